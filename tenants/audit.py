"""Writing the audit log: one ``record`` per state change, called inside the service's transaction.

The log is append-only (``AuditEvent`` refuses updates and deletes) and must never hold a
secret: ``changes`` is scrubbed here, by key (anything named like a secret is dropped) and by
value (anything shaped like a credential is masked with ``portal.redaction``), so a careless
caller cannot leak one into a page that shows the history.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.redaction import redact
from tenants.acting import acting_as, refuse_read_only_change
from tenants.models import Account, AuditEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from django.http import HttpRequest

    Actor = AbstractBaseUser | AnonymousUser | None

# Keys whose values are never written, whatever they hold.
_SECRET_KEY = re.compile(r"secret|token|password|encrypted|pepper|api_?key", re.IGNORECASE)
SYSTEM_LABEL = "system"
# The actions of a support session itself (tenants.services.impersonation): its start and end,
# the pages viewed and the upstream calls made while acting.
SUPPORT_ACTIONS = "support."
SUPPORT_PAGE_VIEW = "support.page_view"
SUPPORT_UPSTREAM_CALL = "support.upstream_call"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a state change came from, for the audit row: the request id and the client IP."""

    request_id: str = ""
    ip: str | None = None
    # Who acted when no person did: "token <id>" for calls made with a portal token.
    credential: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, *, credential: str = "") -> RequestContext:
        request_id = str(
            getattr(request, "request_id", "") or request.headers.get("X-Request-ID", "")
        )[:64]
        return cls(
            request_id=request_id,
            ip=_valid_ip(request.META.get("REMOTE_ADDR")),
            credential=credential,
        )


NO_CONTEXT = RequestContext()


def _valid_ip(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def actor_label(actor: Actor) -> str:
    if actor is None or not actor.is_authenticated:
        return SYSTEM_LABEL
    email = getattr(actor, "email", "")
    username = actor.get_username()
    return f"{username} <{email}>" if email and email != username else username


def scrub(value: Any) -> Any:
    """A copy of ``value`` fit for the audit log: no secret-named keys, credentials masked."""
    if isinstance(value, Mapping):
        return {
            str(key): scrub(item) for key, item in value.items() if not _SECRET_KEY.search(str(key))
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"before": old, "after": new}}`` for the fields whose value changed."""
    return {
        field: {"before": before.get(field), "after": after.get(field)}
        for field in sorted(set(before) | set(after))
        if before.get(field) != after.get(field)
    }


def snapshot(account: Account, fields: Iterable[str]) -> dict[str, Any]:
    return {field: getattr(account, field) for field in fields}


def record(
    action: str,
    *,
    actor: Actor,
    account: Account,
    target_type: str = "account",
    target_id: str = "",
    changes: Mapping[str, Any] | None = None,
    context: RequestContext | None = None,
    correlation_id: str = "",
) -> AuditEvent:
    """Append one event. Call it inside the transaction of the change it describes.

    While the actor acts as a tenant (support impersonation) the event carries the session's
    correlation id, and a read-only session refuses the change here
    (``ReadOnlySupportSession``), rolling back the transaction it was part of. The support
    session's own events (``support.*``) are written whatever the session allows.
    """
    acting = acting_as(actor)
    if acting is not None:
        if not action.startswith(SUPPORT_ACTIONS):
            refuse_read_only_change(actor)
        correlation_id = correlation_id or acting.correlation_id
    context = context or NO_CONTEXT
    user = actor if actor is not None and actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor_id=user.pk if user is not None else None,
        actor_label=actor_label(actor)
        if user is not None or not context.credential
        else context.credential,
        account=account,
        action=action,
        target_type=target_type,
        target_id=target_id or (account.public_id if target_type == "account" else ""),
        changes=scrub(dict(changes or {})),
        request_id=context.request_id,
        correlation_id=correlation_id,
        ip=context.ip,
    )
