"""Partner API (UPSTREAM.md §3): child users, their API tokens, sessions and contexts.

Served under both `/v1/partner/user/...` (spec, Node SDK) and `/v1/user/...` (server, newest Go
and Python SDKs). Parents are users without an owner; they are made through the control surface.
"""

from __future__ import annotations

from aiohttp import web

from portal.sandbox.auth import API_AUDIENCE, issue_jwt
from portal.sandbox.context import Ctx, Route, json_ok
from portal.sandbox.errors import conflict, not_authorized, not_found
from portal.sandbox.lists import respond as list_response
from portal.sandbox.lists import select
from portal.sandbox.store import JsonObject, Record, Store, new_secret
from portal.sandbox.validation import (
    LIMITS,
    NULLABLE_STRING,
    Field,
    validate,
)

ROOT = ""  # owner_id of parent accounts
DEFAULT_SESSION_SECONDS = 900

USER_SCHEMA = {
    "alias": NULLABLE_STRING,
    "name": NULLABLE_STRING,
    "description": NULLABLE_STRING,
    "meta": Field("object", nullable=True),
    "image": NULLABLE_STRING,
    "email": Field("email", nullable=True),
    "limits": LIMITS,
}
TOKEN_SCHEMA = {
    "name": NULLABLE_STRING,
    "description": NULLABLE_STRING,
    "config": Field("object", nullable=True),
    "meta": Field("object", nullable=True),
}
SESSION_SCHEMA = {
    "durationInSeconds": Field("integer", nullable=True, positive=True),
    "config": Field(
        "object",
        nullable=True,
        schema={
            "allowedRoutes": Field("array", nullable=True, items=Field("string")),
            "contactId": NULLABLE_STRING,
            "namespace": NULLABLE_STRING,
        },
    ),
}
CONTEXT_SCHEMA = {
    "name": NULLABLE_STRING,
    "description": NULLABLE_STRING,
    "meta": Field("object", nullable=True),
    "payload": Field("object", nullable=True),
    "blueprintId": NULLABLE_STRING,
    "botId": NULLABLE_STRING,
    "datasetId": NULLABLE_STRING,
    "skillsetId": NULLABLE_STRING,
}
CONTEXT_FIELDS = tuple(CONTEXT_SCHEMA)


# -- shapes ------------------------------------------------------------------------------------


def user_json(user: Record) -> JsonObject:
    # fetch selects no description upstream; list does (see user_list_json).
    return user.as_json("name", "image", "email", "limits", "meta")


def user_list_json(user: Record) -> JsonObject:
    return user.as_json("name", "description", "image", "email", "limits", "meta")


def token_json(token: Record) -> JsonObject:
    return token.as_json("name", "description", "meta")


def context_json(context: Record) -> JsonObject:
    return context.as_json(*CONTEXT_FIELDS)


# -- access ------------------------------------------------------------------------------------


def create_parent(
    store: Store, name: str, secret: str | None, parent_id: str | None
) -> tuple[Record, str]:
    """Make (or re-link) a parent account and give it a secret; used by the control surface."""
    existing = store.token_for_secret(secret) if secret else None
    if existing is not None:
        parent = store.get("user", existing.owner_id)
        if parent is not None and (parent_id is None or parent.id == parent_id):
            return parent, secret or ""
    parent = store.get("user", parent_id) if parent_id else None
    if parent is None:
        parent = store.add("user", ROOT, {"name": name}, record_id=parent_id)
    secret = secret or new_secret()
    store.add_secret(parent.id, secret, {"name": "sandbox parent secret"})
    return parent, secret


def _child(ctx: Ctx) -> Record:
    """The `{userId}` child of the caller: 404 when unknown, 403 when someone else's."""
    ident = ctx.params["userId"]
    user = ctx.store.get("user", ident)
    if user is None:
        # {userId} may also be an alias (findUniqueByIdentifier upstream).
        user = next(
            (
                u
                for u in ctx.store.owned("user", ctx.caller.user_id)
                if u.fields.get("alias") == ident
            ),
            None,
        )
    if user is None:
        raise not_found()
    if user.owner_id != ctx.caller.user_id:
        raise not_authorized()
    return user


def _check_unique(store: Store, parent_id: str, fields: JsonObject, skip: str | None) -> None:
    for name in ("email", "alias"):
        value = fields.get(name)
        if value and any(
            u.fields.get(name) == value and u.id != skip for u in store.owned("user", parent_id)
        ):
            raise conflict()


def _clean_user_fields(body: JsonObject) -> JsonObject:
    fields = dict(body)
    if fields.get("email") == "":
        fields["email"] = None  # "" clears the email upstream
    return fields


# -- users -------------------------------------------------------------------------------------


async def create_user(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, USER_SCHEMA)
    caller = ctx.store.get("user", ctx.caller.user_id)
    if caller is None or caller.owner_id != ROOT:
        raise not_authorized("You are not allowed to create a user.")
    fields = _clean_user_fields(body)
    _check_unique(ctx.store, caller.id, fields, None)
    user = ctx.store.add("user", caller.id, fields)
    return json_ok({"id": user.id})


async def list_users(ctx: Ctx) -> web.StreamResponse:
    email = ctx.query.get("email")
    records = select(
        ctx,
        ctx.store.owned("user", ctx.caller.user_id),
        extra=(lambda u: u.fields.get("email") == email) if email else None,
    )
    return await list_response(ctx, records, user_list_json)


async def fetch_user(ctx: Ctx) -> web.StreamResponse:
    return json_ok(user_json(_child(ctx)))


async def update_user(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, USER_SCHEMA)
    user = _child(ctx)
    fields = _clean_user_fields(body)
    _check_unique(ctx.store, user.owner_id, fields, user.id)
    if isinstance(fields.get("meta"), dict):
        # Upstream merges meta (getMeta(meta, user.meta)); a shallow merge is the inferred rule.
        fields["meta"] = {**(user.fields.get("meta") or {}), **fields["meta"]}
    ctx.store.update(user, fields)
    return json_ok({"id": user.id})


async def delete_user(ctx: Ctx) -> web.StreamResponse:
    user = _child(ctx)
    ctx.store.delete(user)  # cascades to bots, conversations, tokens, contexts
    return json_ok({"id": user.id})


# -- tokens ------------------------------------------------------------------------------------


def _child_token(ctx: Ctx, user: Record) -> Record:
    token = ctx.store.get("token", ctx.params["tokenId"])
    if token is None or token.owner_id != user.id:
        raise not_found()
    return token


async def create_token(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, TOKEN_SCHEMA)
    user = _child(ctx)
    secret = new_secret()
    token = ctx.store.add_secret(user.id, secret, body)
    return json_ok({"id": token.id, "token": secret, "createdAt": token.created_at})


async def list_tokens(ctx: Ctx) -> web.StreamResponse:
    user = _child(ctx)
    records = select(ctx, ctx.store.owned("token", user.id))
    return await list_response(ctx, records, token_json)


async def update_token(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, TOKEN_SCHEMA)
    token = _child_token(ctx, _child(ctx))
    ctx.store.update(token, body)
    return json_ok({"id": token.id})


async def delete_token(ctx: Ctx) -> web.StreamResponse:
    token = _child_token(ctx, _child(ctx))
    ctx.store.delete(token)
    return json_ok({"id": token.id})


# -- sessions ----------------------------------------------------------------------------------


async def create_session(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, SESSION_SCHEMA)
    user = _child(ctx)
    duration = int(body.get("durationInSeconds") or DEFAULT_SESSION_SECONDS)
    config = body.get("config") or {}
    claims: JsonObject = {"userId": user.id}
    claims.update({key: value for key, value in config.items() if value is not None})
    session_id, token, expires_at = issue_jwt(ctx.store, API_AUDIENCE, claims, duration)
    return json_ok({"id": session_id, "token": token, "expiresAt": expires_at})


# -- contexts ----------------------------------------------------------------------------------


def _child_context(ctx: Ctx, user: Record) -> Record:
    context = ctx.store.get("context", ctx.params["contextId"])
    if context is None or context.owner_id != user.id:
        raise not_found()
    return context


async def create_context(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, CONTEXT_SCHEMA)
    context = ctx.store.add("context", _child(ctx).id, body)
    return json_ok(context_json(context))


async def list_contexts(ctx: Ctx) -> web.StreamResponse:
    user = _child(ctx)
    wanted = {
        k: ctx.query[k]
        for k in ("blueprintId", "botId", "datasetId", "skillsetId")
        if k in ctx.query
    }
    records = select(
        ctx,
        ctx.store.owned("context", user.id),
        extra=lambda c: all(c.fields.get(k) == v for k, v in wanted.items()),
    )
    return await list_response(ctx, records, context_json)


async def fetch_context(ctx: Ctx) -> web.StreamResponse:
    return json_ok(context_json(_child_context(ctx, _child(ctx))))


async def update_context(ctx: Ctx) -> web.StreamResponse:
    body = validate(ctx.body, CONTEXT_SCHEMA)
    context = _child_context(ctx, _child(ctx))
    ctx.store.update(context, body)
    return json_ok({"id": context.id})


async def delete_context(ctx: Ctx) -> web.StreamResponse:
    context = _child_context(ctx, _child(ctx))
    ctx.store.delete(context)
    return json_ok({"id": context.id})


def _routes(prefix: str) -> list[Route]:
    user = f"{prefix}/{{userId}}"
    return [
        Route("POST", f"{prefix}/create", create_user),
        Route("GET", f"{prefix}/list", list_users),
        Route("GET", f"{user}/fetch", fetch_user),
        Route("POST", f"{user}/update", update_user),
        Route("POST", f"{user}/delete", delete_user),
        Route("POST", f"{user}/token/create", create_token),
        Route("GET", f"{user}/token/list", list_tokens),
        Route("POST", f"{user}/token/{{tokenId}}/update", update_token),
        Route("POST", f"{user}/token/{{tokenId}}/delete", delete_token),
        Route("POST", f"{user}/session/create", create_session),
        Route("POST", f"{user}/context/create", create_context),
        Route("GET", f"{user}/context/list", list_contexts),
        Route("GET", f"{user}/context/{{contextId}}/fetch", fetch_context),
        Route("POST", f"{user}/context/{{contextId}}/update", update_context),
        Route("POST", f"{user}/context/{{contextId}}/delete", delete_context),
    ]


ROUTES = _routes("/v1/partner/user") + _routes("/v1/user")
