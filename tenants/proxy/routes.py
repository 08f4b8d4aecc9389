"""The route table: every upstream route the portal knows, what it needs and how it counts.

One row per upstream route (UPSTREAM.md §5-§9), written as the path below ``/v1`` with
``{params}``. Each row names:

- ``scope``: the token scope that allows it (the catalogue is ``tenants.credentials``);
- ``metering``: how the limits and metering code counts it (``none``, ``message``: one message,
  ``conversation``: a new conversation, ``stream``: a completion whose usage is read from its
  ``usage``/``result`` events or its JSON ``usage``);
- ``bot``: where the bot it touches is named, for tokens restricted to some bots (``BotRef``).
  Stateful conversation routes name no bot: the conversation's bot would need an upstream
  look-up, so a bot restriction covers what a token creates and completes directly.

Routes the table does not know are forwarded only for tokens holding ``*``. Routes the portal
answers itself (partner users, their tokens and sessions; the widget stream) are routed away by
``portal/asgi.py``; they are listed here too, as ``PORTAL_OWNED``, so that a mistake in that
routing can never send them upstream with the partner's secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tenants.proxy.errors import method_not_allowed, not_found


class Metering(StrEnum):
    NONE = "none"
    MESSAGE = "message"
    CONVERSATION = "conversation"
    STREAM = "stream"
    # A turn on a stored conversation: the user's text (when sent) and the bot's reply are two
    # messages upstream, as the upstream counts them (tenants.limits.policy.cost_of).
    STATEFUL = "stateful"


class BotRef(StrEnum):
    NONE = "none"
    PATH = "path"  # the {botId} of the path
    BODY = "body"  # the body's botId; a bot-restricted token must name one of its bots
    BODY_IF_GIVEN = "body_if_given"  # the body's botId, checked only when present


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    scope: str
    metering: Metering = Metering.NONE
    bot: BotRef = BotRef.NONE


@dataclass(frozen=True, slots=True)
class Match:
    route: Route | None  # None: a path the table does not know (only `*` tokens may call it)
    params: dict[str, str]

    def bot_id_from_path(self) -> str | None:
        return self.params.get("botId")


GET, POST = "GET", "POST"
M, C, S, T = Metering.MESSAGE, Metering.CONVERSATION, Metering.STREAM, Metering.STATEFUL
_BOT = "/bot/{botId}"
_CONV = "/conversation/{conversationId}"
_MSG = _CONV + "/message/{messageId}"

ROUTES: tuple[Route, ...] = (
    # Bots (§8).
    Route(POST, "/bot/create", "bot:create"),
    Route(GET, "/bot/list", "bot:list"),
    Route(GET, f"{_BOT}/fetch", "bot:fetch", bot=BotRef.PATH),
    Route(POST, f"{_BOT}/update", "bot:update", bot=BotRef.PATH),
    Route(POST, f"{_BOT}/delete", "bot:delete", bot=BotRef.PATH),
    Route(POST, f"{_BOT}/clone", "bot:clone", bot=BotRef.PATH),
    # Creates a conversation with the bot and an end-user token for it (§4).
    Route(POST, f"{_BOT}/session/create", "conversation:session", C, BotRef.PATH),
    Route(GET, f"{_BOT}/usage/fetch", "usage:fetch", bot=BotRef.PATH),
    # Conversations and their messages (§6.1).
    Route(POST, "/conversation/create", "conversation:create", C, BotRef.BODY),
    Route(GET, "/conversation/list", "conversation:list"),
    Route(GET, f"{_CONV}/fetch", "conversation:fetch"),
    Route(POST, f"{_CONV}/update", "conversation:update", bot=BotRef.BODY_IF_GIVEN),
    Route(POST, f"{_CONV}/delete", "conversation:delete"),
    Route(POST, f"{_CONV}/session/create", "conversation:session"),
    Route(GET, f"{_CONV}/usage/fetch", "usage:fetch"),
    Route(GET, f"{_CONV}/message/list", "message:list"),
    Route(POST, f"{_CONV}/message/create", "message:create", M),
    Route(GET, f"{_MSG}/fetch", "message:fetch"),
    Route(POST, f"{_MSG}/update", "message:update"),
    Route(POST, f"{_MSG}/delete", "message:delete"),
    # Completions (§6.2, §6.3) and background dispatch (§7). A dispatch's usage arrives on its
    # channel, not in this response, so it counts as a message here.
    Route(POST, "/conversation/complete", "conversation:complete", S, BotRef.BODY),
    Route(POST, f"{_CONV}/complete", "conversation:complete", T),
    Route(POST, f"{_CONV}/send", "conversation:complete", M),
    Route(POST, f"{_CONV}/receive", "conversation:complete", S),
    Route(POST, "/conversation/dispatch", "conversation:dispatch", M, BotRef.BODY),
    Route(POST, f"{_CONV}/dispatch", "conversation:dispatch", T),
    Route(POST, f"{_CONV}/channel/subscribe", "channel:subscribe"),
    # Channels (§7).
    Route(POST, "/channel/{channelId}/subscribe", "channel:subscribe"),
    Route(POST, "/channel/{channelId}/publish", "channel:publish"),
    # Usage (§5).
    Route(GET, "/usage/fetch", "usage:fetch"),
    Route(GET, "/usage/series/fetch", "usage:fetch"),
    Route(GET, "/usage/list", "usage:list"),
)

# Answered by the portal (the partner API in Django, the widget stream in tenants/widget);
# never forwarded.
PORTAL_OWNED = re.compile(r"^/(?:(?:partner/)?user|chat)(?:/|$)")

_PARAM = re.compile(r"\{(\w+)\}")


def _compile(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    # split() alternates literal text and parameter names.
    return re.compile(
        "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
            for index, part in enumerate(parts)
        )
        + "$"
    )


# Indexed by the first path segment ("bot", "conversation", ...) so a lookup tries a handful
# of patterns, not the whole table.
_BY_RESOURCE: dict[str, list[tuple[re.Pattern[str], Route]]] = {}
for _route in ROUTES:
    _BY_RESOURCE.setdefault(_route.template.split("/")[1], []).append(
        (_compile(_route.template), _route)
    )


def match(method: str, path: str) -> Match:
    """The row for ``method path`` (path below ``/v1``), or a refusal.

    A known path with another method is 405, as the upstream answers it; an unknown path is a
    ``Match`` without a route, which only ``*`` tokens may forward.
    """
    if PORTAL_OWNED.match(path):
        raise not_found()
    found_other_method = False
    for pattern, route in _BY_RESOURCE.get(path.split("/", 2)[1], ()):
        hit = pattern.match(path)
        if hit is None:
            continue
        if route.method == method:
            return Match(route, hit.groupdict())
        found_other_method = True
    if found_other_method:
        raise method_not_allowed(_allowed_methods(path))
    if method not in (GET, POST):
        raise method_not_allowed()
    return Match(None, {})


def _allowed_methods(path: str) -> str:
    methods = {
        route.method
        for pattern, route in _BY_RESOURCE.get(path.split("/", 2)[1], ())
        if pattern.match(path)
    }
    return ", ".join(sorted(methods))
