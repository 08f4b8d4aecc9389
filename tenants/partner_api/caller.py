"""Who is calling the partner API: the token, and the account it acts as."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.views.decorators.csrf import csrf_exempt

from tenants import access
from tenants.audit import RequestContext
from tenants.credentials import (
    CredentialError,
    TokenRecord,
    authenticate_request,
    record_allows_route,
    record_allows_scope,
)
from tenants.models import Account
from tenants.partner_api.http import ApiError, error_response, response_for

RUN_AS_HEADERS = ("X-RunAs-User-ID", "X-RunAs-UserId")  # headers are case-insensitive
RUN_AS_EMAIL_HEADER = "X-RunAs-Child-User-Email"


@dataclass(frozen=True)
class Caller:
    record: TokenRecord
    account: Account  # the acting account: the token's, or its run-as target
    context: RequestContext


def _not_authenticated(message: str) -> ApiError:
    return ApiError(401, "NOT_AUTHENTICATED", message)


def resolve_caller(request: HttpRequest) -> Caller:
    record = authenticate_request(request)
    if record.kind == "widget":
        # A widget key sits in public web pages and only chats (tenants/widget).
        raise _not_authenticated("Widget keys work only on /v1/chat/stream")
    user_id = next((request.headers[h] for h in RUN_AS_HEADERS if request.headers.get(h)), "")
    child_email = request.headers.get(RUN_AS_EMAIL_HEADER, "")
    if user_id or child_email:
        if record.kind == "session":
            # As upstream: a session acts as its own account only, never through run-as.
            raise _not_authenticated("Session tokens cannot act as another account")
        account = access.find_run_as_target(record, user_id=user_id, child_email=child_email)
        if account is None:
            raise _not_authenticated("Not authenticated")
    else:
        try:
            account = access.get_token_account(record)
        except Http404:
            raise _not_authenticated("Not authenticated") from None
    blocked = account.first_blocked_in_lineage()
    if blocked is not None:
        raise ApiError(
            403,
            "NOT_AUTHORIZED",
            f"The account {blocked.name} is {blocked.get_status_display().lower()}",
        )
    context = RequestContext.from_request(request, credential=f"token {record.token_id}")
    return Caller(record=record, account=account, context=context)


type Endpoint = Callable[..., HttpResponseBase]


def endpoint(method: str, scope: str) -> Callable[[Endpoint], Callable[..., HttpResponseBase]]:
    """A partner API route: HTTP rules, authentication, scope, and errors in upstream shapes.

    The wrapped view gets ``(request, caller, **url_kwargs)``.
    """

    def decorate(view: Endpoint) -> Callable[..., HttpResponseBase]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            # The upstream's method rules (UPSTREAM.md §1): HEAD and OPTIONS answer before auth.
            if request.method == "HEAD":
                return HttpResponse(status=200)
            if request.method == "OPTIONS":
                return JsonResponse({})
            if request.method != method:
                return error_response(405, "METHOD_NOT_ALLOWED", "Method not allowed")
            try:
                caller = resolve_caller(request)
                if not record_allows_route(caller.record, request.path):
                    raise _not_authenticated("This token may not call this route")
                if not record_allows_scope(caller.record, scope):
                    raise ApiError(403, "NOT_AUTHORIZED", f"This token lacks the {scope} scope")
                return view(request, caller, **kwargs)
            except Http404:
                return error_response(404, "NOT_FOUND", "Not found")
            except (ApiError, CredentialError) as exc:
                return response_for(exc)
            except Exception as exc:  # response_for maps what it knows and re-raises the rest
                return response_for(exc)

        return wrapper

    return decorate
