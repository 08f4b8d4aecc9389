"""Who is calling: `sk-` secrets, session JWTs and the run-as headers (UPSTREAM.md §1, §3.5, §4).

The result is a `Caller`. Every handler acts as `caller.user_id`, which is the child when run-as
is in effect, and channels are scoped by `caller.session_id` exactly like the upstream scopes them.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from portal.sandbox.errors import not_authenticated
from portal.sandbox.store import Record, Store, new_id

API_AUDIENCE = "api"
CONVERSATION_AUDIENCE = "enduser/conversation"
_RUN_AS_ID_HEADERS = ("x-runas-user-id", "x-runas-userid")
_RUN_AS_EMAIL_HEADER = "x-runas-child-user-email"


@dataclass(frozen=True)
class Caller:
    user_id: str  # who the request acts as (the child under run-as)
    account_id: str  # who owns the credential
    session_id: str  # channel scope: token id, "<tokenId>/<childId>" or the JWT's sub
    kind: str  # "secret" | "session" | "conversation" | "anonymous"
    conversation_id: str | None = None  # the one conversation an end-user token may use

    @property
    def is_run_as(self) -> bool:
        return self.user_id != self.account_id


ANONYMOUS = Caller("", "", "anonymous", "anonymous")


def issue_jwt(
    store: Store, audience: str, claims: dict[str, Any], duration_s: int
) -> tuple[str, str, int]:
    """Sign a session token; returns its session id (`sub`), the token and expiry in epoch ms."""
    session_id = new_id()
    expires_ms = int(time.time() * 1000) + duration_s * 1000
    payload = {"sub": session_id, **claims, "aud": audience, "exp": expires_ms // 1000}
    return session_id, jwt.encode(payload, store.jwt_key, algorithm="HS256"), expires_ms


def authenticate(store: Store, headers: Mapping[str, str], api_path: str) -> Caller:
    """Resolve the caller for `api_path` (always the `/api/v1/...` spelling) or raise 401."""
    header = headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise not_authenticated()
    if token.startswith("sk-"):
        return _from_secret(store, token, headers)
    if token.count(".") == 2:
        return _from_jwt(store, token, headers, api_path)
    # oaac- OAuth tokens are not emulated; oart- refresh tokens are refused upstream too.
    raise not_authenticated()


def _from_secret(store: Store, secret: str, headers: Mapping[str, str]) -> Caller:
    token = store.token_for_secret(secret)
    owner = store.get("user", token.owner_id) if token else None
    if token is None or owner is None:
        raise not_authenticated()
    caller = Caller(owner.id, owner.id, token.id, "secret")
    target = _run_as_target(store, owner, headers)
    if target is None:
        return caller
    # The upstream keys channels by "<tokenId>/<childId>" under run-as; see channels.py.
    return Caller(target.id, owner.id, f"{token.id}/{target.id}", "secret")


def _run_as_target(store: Store, owner: Record, headers: Mapping[str, str]) -> Record | None:
    user_id = next((headers[name] for name in _RUN_AS_ID_HEADERS if headers.get(name)), None)
    email = headers.get(_RUN_AS_EMAIL_HEADER)
    if user_id:
        target = store.get("user", user_id.strip())
    elif email:
        target = next(
            (user for user in store.owned("user", owner.id) if user.fields.get("email") == email),
            None,
        )
    else:
        return None
    # Upstream answers 401, not 403, when the target is unknown or someone else's child.
    if target is None or target.owner_id != owner.id:
        raise not_authenticated()
    return target


def _from_jwt(store: Store, token: str, headers: Mapping[str, str], api_path: str) -> Caller:
    try:
        payload = jwt.decode(
            token,
            store.jwt_key,
            algorithms=["HS256"],
            audience=[API_AUDIENCE, CONVERSATION_AUDIENCE],
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.PyJWTError:
        raise not_authenticated() from None
    # Run-as is honoured only for secrets; a session token asking for it is refused outright
    # (rather than silently acting as the token's own user) so proxy bugs surface early.
    if any(headers.get(name) for name in (*_RUN_AS_ID_HEADERS, _RUN_AS_EMAIL_HEADER)):
        raise not_authenticated()
    user = store.get("user", str(payload.get("userId", "")))
    if user is None:
        raise not_authenticated()
    session_id = str(payload["sub"])
    if payload["aud"] == CONVERSATION_AUDIENCE:
        conversation_id = str(payload.get("conversationId", ""))
        if not conversation_route_allowed(api_path, conversation_id):
            raise not_authenticated()
        return Caller(user.id, user.id, session_id, "conversation", conversation_id)
    allowed = payload.get("allowedRoutes")
    if allowed is not None and not routes_allow(tuple(allowed), api_path):
        raise not_authenticated()
    return Caller(user.id, user.id, session_id, "session")


# -- allowedRoutes globs ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """`**` crosses `/`, `*` and `?` stay within one path segment."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + "$")


def _api_pattern(pattern: str) -> str:
    # Upstream prefixes a bare pattern with both /api/v1/ and /v1/. The sandbox matches against
    # the /api/v1/ spelling of the path only, so one prefix covers both spellings.
    if pattern.startswith("/api/v1/"):
        return pattern
    if pattern.startswith("/v1/"):
        return "/api" + pattern
    return "/api/v1/" + pattern.lstrip("/")


@functools.lru_cache(maxsize=1024)
def routes_allow(patterns: tuple[str, ...], api_path: str) -> bool:
    """micromatch-style list: allowed if some positive glob matches and no `!` glob does.

    A list of only negations allows everything else; an empty list allows nothing.
    """
    positives = [p for p in patterns if not p.startswith("!")]
    negatives = [p[1:] for p in patterns if p.startswith("!")]
    if not positives and not negatives:
        return False
    if positives and not _any_match(positives, api_path):
        return False
    return not _any_match(negatives, api_path)


def _any_match(patterns: Iterable[str], api_path: str) -> bool:
    return any(glob_to_regex(_api_pattern(p)).match(api_path) for p in patterns)


_CONVERSATION_ACTIONS = (
    "complete",
    "send",
    "receive",
    "contact/upsert",
    "attachment/upload",
    "initiate",
)
_OTHER_END_USER_ROUTES = tuple(
    glob_to_regex(p)
    for p in (
        "/api/v1/message/*/upvote",
        "/api/v1/message/*/downvote",
        "/api/v1/message/*/synthesize",
        "/api/v1/channel/*/publish",
        "/api/v1/url/unfurl",
    )
)


def conversation_route_allowed(api_path: str, conversation_id: str) -> bool:
    """The fixed allow-list of an `enduser/conversation` token (UPSTREAM.md §4)."""
    prefix = f"/api/v1/conversation/{conversation_id}/"
    if conversation_id and api_path.startswith(prefix):
        return api_path[len(prefix) :] in _CONVERSATION_ACTIONS
    return any(regex.match(api_path) for regex in _OTHER_END_USER_ROUTES)
