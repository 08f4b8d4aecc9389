"""The proxy's one call into metering: ``record_call`` when an authenticated call ends."""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from typing import TYPE_CHECKING

from tenants.metering.buffer import UsageRecord, default_buffer
from tenants.metering.observer import Usage, UsageMeter

if TYPE_CHECKING:
    from tenants.credentials import TokenRecord
    from tenants.proxy.acting import Acting
    from tenants.proxy.errors import ProxyError
    from tenants.proxy.routes import Match
    from tenants.proxy.wire import Request

logger = logging.getLogger("tenants.metering")

UNLISTED_ROUTE = "*"  # a path outside the route table: its raw form may hold ids, so not kept
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before any answer
_NO_USAGE = Usage(0, 0, 0, 0, 0, estimated=False)
_MAX_REQUEST_ID = 64
# Our own ids: unique per process by a random prefix, then a counter (no system call per call).
_PROCESS_PREFIX = secrets.token_hex(4)
_call_numbers = itertools.count(1)


def record_call(
    request: Request | None,
    token: TokenRecord,
    acting: Acting | None,
    matched: Match | None,
    meter: UsageMeter | None,
    refusal: ProxyError | None,
) -> bool:
    """Queue the call's usage event. Cheap and never blocking; False if the buffer was full.

    - ``meter``: the call's ``UsageMeter`` once it was forwarded (None if refused before);
    - ``refusal``: the ``ProxyError`` it was answered with, if any (before or instead of the
      upstream's answer).

    The usage is the acting account's (the run-as target's), or the token's own account's when
    the call was refused before the acting account was known. A fault here is logged and
    counted as a dropped event: the answer has gone out, and must not be turned into an error.
    """
    try:
        return _record(request, token, acting, matched, meter, refusal)
    except Exception:
        logger.exception("usage event of a call could not be recorded")
        default_buffer().dropped += 1
        return False


def _record(
    request: Request | None,
    token: TokenRecord,
    acting: Acting | None,
    matched: Match | None,
    meter: UsageMeter | None,
    refusal: ProxyError | None,
) -> bool:
    usage = meter.usage() if meter is not None else _NO_USAGE
    status = meter.status if meter is not None else 0
    error_code = meter.error_code if meter is not None else ""
    disconnected = meter.client_disconnected if meter is not None else False
    if not status and refusal is not None:  # answered by the portal, not relayed
        status, error_code = refusal.status, refusal.code
    elif not status:  # nothing was answered: the client left while its call was read
        status, disconnected = CLIENT_CLOSED_REQUEST, True
    route = matched.route if matched is not None else None
    started = request.started if request is not None else None
    return default_buffer().record(
        UsageRecord(
            account_id=acting.account.pk if acting is not None else token.account_id,
            token_id=token.token_id,
            route=route.template if route is not None else UNLISTED_ROUTE,
            method=request.method if request is not None else "",
            status=status,
            error_code=error_code,
            duration_ms=int((time.perf_counter() - started) * 1000) if started else 0,
            messages=usage.messages,
            conversations=usage.conversations,
            tokens=usage.tokens,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            estimated=usage.estimated,
            client_disconnected=disconnected,
            request_id=_request_id(request),
            created_at=time.time(),
        )
    )


def _request_id(request: Request | None) -> str:
    # A load balancer's id when it sent one (so logs and usage line up), else one of ours.
    given = request.headers.get("x-request-id", "") if request is not None else ""
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable():
        return given
    return f"{_PROCESS_PREFIX}-{next(_call_numbers):x}"
