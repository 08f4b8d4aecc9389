"""Partner API endpoints: the caller's tenants, their tokens, sessions and contexts.

Each view is the same short pipeline: the ``endpoint`` decorator (HTTP rules, token, acting
account, scope) ─► parse and validate in the upstream's wording ─► one service call ─► the
upstream's response shape (UPSTREAM.md §3).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from portal.upstream import UpstreamHTTPError, run_sync
from tenants import access
from tenants.models import Account, Token
from tenants.partner_api.caller import Caller, endpoint
from tenants.partner_api.http import (
    bad_request,
    check_keys,
    epoch_ms,
    error_response,
    json_body,
    not_found,
    object_field,
    string_field,
)
from tenants.partner_api.lists import list_response, meta_filters, parse_list_query
from tenants.services import (
    close_account,
    create_session_token,
    issue_token,
    onboard_tenant,
    revoke_token,
    update_account,
    update_token,
)

USER_FIELDS = {"alias", "name", "description", "meta", "image", "email", "limits"}
TOKEN_FIELDS = {"name", "description", "config", "meta"}
SESSION_FIELDS = {"durationInSeconds", "config"}
SESSION_CONFIG_FIELDS = {"allowedRoutes", "contactId", "namespace"}


def user_shape(account: Account) -> dict[str, Any]:
    """The upstream's ``User`` record; unset fields are ``null`` (UPSTREAM.md §1, §3.1)."""
    return {
        "id": account.public_id,
        "createdAt": epoch_ms(account.created_at),
        "updatedAt": epoch_ms(account.updated_at),
        "name": account.name or None,
        "description": account.description or None,
        "meta": account.meta or None,
        "image": account.image or None,
        "email": account.email or None,
        "limits": account.limits or None,
    }


def token_shape(token: Token) -> dict[str, Any]:
    return {
        "id": token.token_id,
        "name": token.name or None,
        "description": token.description or None,
        "meta": token.meta or None,
        "createdAt": epoch_ms(token.created_at),
        "updatedAt": epoch_ms(token.updated_at),
    }


def _user_fields(body: dict[str, Any]) -> dict[str, Any]:
    check_keys(body, USER_FIELDS)
    fields: dict[str, Any] = {
        "name": string_field(body, "name", max_length=200),
        "description": string_field(body, "description"),
        "image": string_field(body, "image", max_length=1000),
        "email": string_field(body, "email", max_length=254),
        "alias": string_field(body, "alias", max_length=64),
        "meta": object_field(body, "meta"),
        "limits": object_field(body, "limits"),
    }
    return fields


# -- users ------------------------------------------------------------------------------------


@endpoint("POST", "user:create")
def create_user(request: HttpRequest, caller: Caller) -> HttpResponseBase:
    fields = _user_fields(json_body(request))
    # The upstream lets only a parent make children; the portal's tree has any depth, so a
    # tenant token with this scope makes sub-tenants under its own account.
    account = onboard_tenant(
        parent=caller.account,
        name=fields["name"] or fields["email"] or fields["alias"] or "Untitled",
        email=fields["email"] or "",
        slug=fields["alias"] or "",
        description=fields["description"] or "",
        image=fields["image"] or "",
        meta=fields["meta"],
        limits=fields["limits"],
        actor=None,
        context=caller.context,
    )
    return JsonResponse({"id": account.public_id})


@endpoint("GET", "user:list")
def list_users(request: HttpRequest, caller: Caller) -> HttpResponseBase:
    query = parse_list_query(request)
    children = access.descendants_of(caller.account).filter(parent=caller.account)
    if email := request.GET.get("email"):
        children = children.filter(email__iexact=email)
    for key, value in meta_filters(request).items():
        children = children.filter(**{f"meta__{key}": value})
    return list_response(
        children, query, cursor_field="public_id", cursor_of=lambda a: a.public_id, shape=user_shape
    )


@endpoint("GET", "user:fetch")
def fetch_user(request: HttpRequest, caller: Caller, user_id: str) -> HttpResponseBase:
    return JsonResponse(user_shape(access.get_descendant_of(caller.account, user_id)))


@endpoint("POST", "user:update")
def update_user(request: HttpRequest, caller: Caller, user_id: str) -> HttpResponseBase:
    account = access.get_descendant_of(caller.account, user_id)
    fields = _user_fields(json_body(request))
    if fields.pop("alias") is not None:
        raise bad_request('"alias" cannot be changed')
    update_account(
        account,
        actor=None,
        context=caller.context,
        **{key: value for key, value in fields.items() if value is not None},
    )
    return JsonResponse({"id": account.public_id})


@endpoint("POST", "user:delete")
def delete_user(request: HttpRequest, caller: Caller, user_id: str) -> HttpResponseBase:
    account = access.get_descendant_of(caller.account, user_id)
    json_body(request)  # the SDKs send {}; anything else is still read and refused if malformed
    # The API call is itself the explicit request, so the typed confirmation pages ask for is
    # the account's own slug here.
    close_account(account, confirmation=account.slug, actor=None, context=caller.context)
    return JsonResponse({"id": account.public_id})


# -- tokens and sessions ----------------------------------------------------------------------


@endpoint("POST", "token:create")
def create_token(request: HttpRequest, caller: Caller, user_id: str) -> HttpResponseBase:
    account = access.get_descendant_of(caller.account, user_id)
    body = json_body(request)
    check_keys(body, TOKEN_FIELDS)
    meta = object_field(body, "meta") or {}
    if (config := object_field(body, "config")) is not None:
        meta = {**meta, "config": config}
    # Like the upstream's child tokens: full access as the tenant (scope "*").
    issued = issue_token(
        account,
        name=string_field(body, "name", max_length=200) or "API token",
        description=string_field(body, "description") or "",
        meta=meta,
        scopes=["*"],
        actor=None,
        context=caller.context,
    )
    return JsonResponse(
        {
            "id": issued.token.token_id,
            "token": issued.plaintext,
            "createdAt": epoch_ms(issued.token.created_at),
        }
    )


@endpoint("GET", "token:list")
def list_tokens(request: HttpRequest, caller: Caller, user_id: str) -> HttpResponseBase:
    account = access.get_descendant_of(caller.account, user_id)
    tokens = Token.objects.api().filter(account=account, revoked_at__isnull=True)
    return list_response(
        tokens,
        parse_list_query(request),
        cursor_field="token_id",
        cursor_of=lambda t: t.token_id,
        shape=token_shape,
    )


def _token_of(account: Account, token_id: str) -> Token:
    token = (
        Token.objects.api()
        .filter(account=account, token_id=token_id, revoked_at__isnull=True)
        .first()
    )
    if token is None:
        raise not_found()
    return token


@endpoint("POST", "token:update")
def update_token_view(
    request: HttpRequest, caller: Caller, user_id: str, token_id: str
) -> HttpResponseBase:
    token = _token_of(access.get_descendant_of(caller.account, user_id), token_id)
    body = json_body(request)
    check_keys(body, TOKEN_FIELDS)
    meta = object_field(body, "meta")
    if (config := object_field(body, "config")) is not None:
        meta = {**(meta or {}), "config": config}
    update_token(
        token,
        name=string_field(body, "name", max_length=200),
        description=string_field(body, "description"),
        meta=meta,
        actor=None,
        context=caller.context,
    )
    return JsonResponse({"id": token.token_id})


@endpoint("POST", "token:delete")
def delete_token(
    request: HttpRequest, caller: Caller, user_id: str, token_id: str
) -> HttpResponseBase:
    token = _token_of(access.get_descendant_of(caller.account, user_id), token_id)
    json_body(request)
    revoke_token(token, actor=None, context=caller.context)
    return JsonResponse({"id": token.token_id})


@endpoint("POST", "session:create")
def create_session(request: HttpRequest, caller: Caller, user_id: str) -> HttpResponseBase:
    account = access.get_descendant_of(caller.account, user_id)
    body = json_body(request)
    check_keys(body, SESSION_FIELDS)
    duration = body.get("durationInSeconds")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int) or duration < 1
    ):
        raise bad_request('"durationInSeconds" must be a positive integer')
    config = object_field(body, "config") or {}
    check_keys(config, SESSION_CONFIG_FIELDS)
    routes = config.get("allowedRoutes")
    if routes is not None and (
        not isinstance(routes, list) or not all(isinstance(r, str) for r in routes)
    ):
        raise bad_request('"config.allowedRoutes" must be an array of strings')
    issued = create_session_token(
        account,
        duration_seconds=duration or 900,
        allowed_routes=routes,
        actor=None,
        context=caller.context,
    )
    return JsonResponse(
        {
            "id": issued.token.token_id,
            "token": issued.plaintext,
            "expiresAt": epoch_ms(issued.token.expires_at),
        }
    )


# -- contexts: kept by the upstream on the child itself, reached with the partner's secret --------

CONTEXT_SCOPES = {
    "list": "context:list",
    "fetch": "context:fetch",
    "create": "context:create",
    "update": "context:update",
    "delete": "context:delete",
}


def _context_call(
    caller: Caller, user_id: str, method: str, tail: str, request: HttpRequest
) -> HttpResponseBase:
    account = access.get_descendant_of(caller.account, user_id)
    partner = Account.objects.get(pk=account.partner_pk)
    connection = partner.upstream_connection()
    path = f"/v1/partner/user/{account.public_id}/context/{tail}"
    body = json_body(request) if method == "POST" else None
    params = {key: request.GET.get(key, "") for key in request.GET} if method == "GET" else None
    try:
        result = run_sync(
            lambda client: client.request_json(connection, method, path, json=body, params=params)
        )
    except UpstreamHTTPError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 401:
            return error_response(exc.status, exc.code, exc.message)
        raise
    return JsonResponse(result if result is not None else {}, safe=False)


def context_endpoint(action: str, method: str):  # type: ignore[no-untyped-def]
    @endpoint(method, CONTEXT_SCOPES[action])
    def view(
        request: HttpRequest, caller: Caller, user_id: str, context_id: str = ""
    ) -> HttpResponseBase:
        tail = f"{context_id}/{action}" if context_id else action
        return _context_call(caller, user_id, method, tail, request)

    return view


@csrf_exempt
def unknown_route(request: HttpRequest) -> HttpResponseBase:
    return error_response(404, "NOT_FOUND", "Not found")
