"""One widget turn: a visitor's message to the key's bot, the reply as seed-001 events.

    chat_turn(key record, request) ─► Started ─► Token … ─► Done | Broken
                                   └► raises WidgetError before Started (nothing streamed yet)

Every upstream call goes through the proxy's own pipeline (``tenants.proxy.internal``), as the
key's account and metered under the key's token id: the same route table, bot restriction,
limits admission (429 with ``Retry-After``) and usage events as any proxied call. A turn is:

1. the session's conversation (``conversations``); a new session first creates one with the
   key's bot (``/conversation/create``: one conversation of the account);
2. ``/conversation/{id}/complete`` with the message: the upstream keeps the history, so the
   bot remembers the earlier turns (one message of the account, and its tokens);
3. if that conversation is gone upstream (404), a new one is created and the message sent
   there: the visitor loses the history, not the message.

The key's own rate and its chat session's rate (``Token.session_rpm``) are admitted with the
turn's first upstream call, in the same atomic step as the account's limits; its later calls
(the complete after a create, a second create when the conversation was gone) are admitted as
follow-ups: quotas checked and reserved, no rate counted again. A visitor's message counts
once against every requests-per-minute limit, the account's and its ancestors' included,
whatever it takes upstream.

What visitors read never names the tenant, its reseller or the upstream host (a white-label
site shows it to the public); the details go to the log and to the usage events the tenant's
pages show.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from tenants.credentials import TokenRecord
from tenants.limits import Rate
from tenants.proxy.internal import UPSTREAM_ID, Answer, open_call
from tenants.widget import conversations
from tenants.widget.protocol import (
    INTERNAL_ERROR,
    TOO_MANY_REQUESTS,
    ChatRequest,
    Headers,
    WidgetError,
    done_line,
    error_line,
    invalid,
    start_line,
    token_line,
)

logger = logging.getLogger("tenants.widget")

# What the key's record may do upstream, and nothing else: its bot restriction stays.
UPSTREAM_SCOPES = ("conversation:create", "conversation:complete")
SESSION_LABEL = "This chat session"
# Headers of a refusal that a widget needs to wait right.
_KEPT_HEADERS = ("retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@dataclass(frozen=True, slots=True)
class Started:
    conversation_id: str
    headers: Headers  # RateLimit-* of the tightest limit, as the proxy answered


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    message: str
    conversation_id: str


@dataclass(frozen=True, slots=True)
class Broken:
    error: str


Event = Started | Token | Done | Broken


def encode(event: Event) -> bytes:
    """The event as its seed-001 NDJSON line."""
    if isinstance(event, Started):
        return start_line(event.conversation_id)
    if isinstance(event, Token):
        return token_line(event.text)
    if isinstance(event, Done):
        return done_line(event.message, event.conversation_id)
    return error_line(event.error)


def session_rate(record: TokenRecord, session_id: str) -> list[Rate]:
    if record.session_rpm is None:
        return []
    subject = f"session:{record.token_id}:{conversations.session_digest(session_id)}"
    return [Rate(subject=subject, limit=record.session_rpm, label=SESSION_LABEL)]


class _Calls:
    """The turn's upstream calls as whom, with which rates: the first carries the key's rate
    and the session's and counts against every rate; later ones are follow-ups (quotas only),
    so the turn counts once. The first
    answer's ``RateLimit-*`` (the tightest of all of them) go out with the stream."""

    def __init__(self, record: TokenRecord, session_id: str) -> None:
        self._credential = dataclasses.replace(record, scopes=UPSTREAM_SCOPES)
        self._rates: list[Rate] | None = session_rate(record, session_id)
        self.rate_headers: Headers = []

    def take(self) -> tuple[TokenRecord, list[Rate], bool]:
        """(credential, rates, follow_up) of the turn's next call."""
        if self._rates is not None:
            rates, self._rates = self._rates, None
            return self._credential, rates, False
        return self._credential, [], True

    def answered(self, answer: Answer) -> None:
        if not self.rate_headers:
            self.rate_headers = _kept(answer.headers, names=("ratelimit-",))


async def chat_turn(
    record: TokenRecord, request: ChatRequest, *, request_id: str = ""
) -> AsyncGenerator[Event]:
    """The turn's events; raises ``WidgetError`` for a refusal before ``Started``.

    Closing the generator early (the visitor left) closes the upstream call, whose partial
    usage is still recorded.
    """
    if not record.bot_ids:
        logger.error("widget key %s names no bot", record.token_id)
        raise WidgetError(500, f"{INTERNAL_ERROR}: this widget key has no bot")
    bot_id = record.bot_ids[0]
    calls = _Calls(record, request.session_id)
    conversation_id = await conversations.find(record.token_id, request.session_id)
    malformed = conversation_id is not None and not UPSTREAM_ID.match(conversation_id)
    if malformed:
        # It goes into a path: a stored value of another shape starts a new conversation.
        logger.warning("widget session of %s held a malformed conversation id", record.token_id)
        conversation_id = None
    continued = conversation_id is not None
    if conversation_id is None:
        created = await _create(bot_id, calls, request_id=request_id)
        if malformed:
            await conversations.replace(record.token_id, request.session_id, created)
            conversation_id = created
        else:
            conversation_id = await conversations.claim(
                record.token_id, request.session_id, created
            )
    while True:
        credential, rates, follow_up = calls.take()
        async with open_call(
            credential,
            "POST",
            f"/conversation/{conversation_id}/complete",
            body={"text": request.message},
            rates=rates,
            follow_up=follow_up,
            request_id=request_id,
        ) as answer:
            calls.answered(answer)
            if answer.status == 404 and continued:
                await answer.read()
                logger.info(
                    "widget key %s: conversation %s is gone upstream; starting a new one",
                    record.token_id,
                    conversation_id,
                )
            else:
                if answer.status >= 400:
                    raise refusal(answer.status, await answer.json(), answer.headers)
                async for event in _relay(answer, conversation_id, calls.rate_headers):
                    yield event
                return
        continued = False
        conversation_id = await _create(bot_id, calls, request_id=request_id)
        await conversations.replace(record.token_id, request.session_id, conversation_id)


async def _create(bot_id: str, calls: _Calls, *, request_id: str) -> str:
    credential, rates, follow_up = calls.take()
    async with open_call(
        credential,
        "POST",
        "/conversation/create",
        body={"botId": bot_id},
        accept="application/json",
        rates=rates,
        follow_up=follow_up,
        request_id=request_id,
    ) as answer:
        calls.answered(answer)
        problem = await answer.json()
        if answer.status >= 400:
            raise refusal(answer.status, problem, answer.headers)
    conversation_id = problem.get("id") if isinstance(problem, dict) else None
    if not isinstance(conversation_id, str) or not UPSTREAM_ID.match(conversation_id):
        # The id goes into the next call's path: nothing that could change that path.
        logger.error("the upstream created a conversation without a usable id: %r", problem)
        raise WidgetError(500, INTERNAL_ERROR)
    return conversation_id


async def _relay(
    answer: Answer, conversation_id: str, rate_headers: Headers
) -> AsyncIterator[Event]:
    """The upstream's JSONL events as the seed's: tokens as they come, then done or error."""
    yield Started(conversation_id, rate_headers)
    tokens: list[str] = []
    async for event in answer.events():
        kind, data = event.get("type"), event.get("data")
        if not isinstance(data, dict):
            continue
        if kind == "token" and isinstance(data.get("token"), str):
            tokens.append(data["token"])
            yield Token(data["token"])
        elif kind == "result":
            text = data.get("text")
            yield Done(text if isinstance(text, str) else "".join(tokens), conversation_id)
            return
        elif kind == "error":
            yield Broken(_stream_error(data))
            return
        # Everything else (ping, usage, message, completeBegin …) is the upstream's business.
    logger.warning("widget stream of %s ended without a result", conversation_id)
    yield Broken(f"{INTERNAL_ERROR}: the reply was cut off; please try again")


def _stream_error(data: Mapping[str, Any]) -> str:
    logger.warning("widget stream failed: %s (%s)", data.get("message"), data.get("code"))
    if data.get("code") == "CONTENT_MODERATION":
        return "This message cannot be answered."
    if data.get("code") in ("LIMITS_REACHED", "TOO_MANY_REQUESTS"):
        return f"{TOO_MANY_REQUESTS}: this chat has reached its usage limit for now"
    return f"{INTERNAL_ERROR}: the reply was interrupted; please try again"


def refusal(status: int, problem: Any, headers: Mapping[str, str]) -> WidgetError:
    """The pipeline's ``{message, code}`` refusal as the seed's ``{"error"}``, same status.

    The pipeline's message is for the tenant (it may name accounts and the upstream host); the
    visitor gets a plain reason, the log the original.
    """
    problem = problem if isinstance(problem, dict) else {}
    code, message = str(problem.get("code", "")), str(problem.get("message", ""))
    logger.info("widget call refused: %s %s %s", status, code, message)
    kept = _kept(headers, names=_KEPT_HEADERS)
    if status == 429:
        wait = headers.get("retry-after", "")
        later = f"; try again in {wait} s" if wait.isdigit() else ""
        limit = problem.get("limit")
        if isinstance(limit, dict) and "session" in limit:
            reason = f"you are sending messages too fast{later}"
        elif code == "LIMITS_REACHED":
            reason = "this chat has reached its usage limit for now"
        else:
            reason = f"this chat is busy{later}"
        return WidgetError(429, f"{TOO_MANY_REQUESTS}: {reason}", kept)
    if status == 400:
        return invalid("the chat service refused the message")
    if status in (403, 404):
        return WidgetError(status, "This chat is not available right now.")
    if status in (502, 503, 504):
        return WidgetError(
            status, "The chat service is unavailable right now; please try again shortly.", kept
        )
    return WidgetError(500, INTERNAL_ERROR)


def _kept(headers: Mapping[str, str], *, names: tuple[str, ...]) -> Headers:
    return [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in headers.items()
        if name.lower().startswith(names)
    ]
