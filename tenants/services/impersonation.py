"""Support impersonation: a person acting as a tenant, with a reason, a time limit and a trail.

Services (each one transaction with its audit event, like every service):

- ``start_impersonation(actor, account, *, reason, ticket, minutes, allow_changes, context)``
  opens a ``SupportSession``; ``stop_impersonation(session, *, actor, reason, context)`` ends it.
  Who may act as whom is ``tenants.access.support_grant_or_refusal``; ``check_may_act_as``
  turns its refusal into a message for the person.
- ``impersonation_of(session, person)``: a session as the frozen ``Impersonation`` that requests
  (and background conversations queued while acting) carry.
- ``resume_impersonation(session_id, user)``: what ``tenants.middleware`` calls on each request
  of a browser that acts as a tenant. It ends a session that has expired (reason ``expired``) or
  whose person lost the role that let them start it (``access_lost``).
- ``record_page_view(impersonation, *, method, path, status, context)``: one audit event per
  page view (written by the middleware).
- ``audit_upstream_call(impersonation, *, action, details, context)`` (and the async
  ``aaudit_upstream_call``): one audit event per call made upstream as the tenant while acting.
  ``tenants.proxy.internal.open_call`` writes one for every in-process call (console, widget key
  picker, widget preview) whose credential carries the session. ``action`` names the call
  (``"POST /conversation/create"``); ``details`` is a small dict (account, status, request id...),
  scrubbed of secrets like every audit change.
- ``end_expired_sessions()``: Celery beat marks sessions nobody came back to as expired.

Every event of a session, these and each change the person makes while acting (``tenants.audit``
adds it), carries the session's ``correlation_id``; the tenant's people read them on the
account's **Support access** tab.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants import access, audit
from tenants.access import SupportGrant, SupportRefusal
from tenants.audit import RequestContext
from tenants.models import Account, AuditEvent, Impersonation, SupportSession
from tenants.services.errors import AccountError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from tenants.audit import Actor

EndReason = SupportSession.EndReason

REASON_MAX = 500
TICKET_MAX = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Resumed:
    """What a request acting as a tenant finds: the open session, or the one that just ended."""

    impersonation: Impersonation | None = None
    ended: SupportSession | None = None


# -- the rules a person is told about ------------------------------------------------------------


def check_may_act_as(actor: Actor, account: Account) -> SupportGrant:
    """What lets ``actor`` act as ``account``; ``AccountError`` saying why not otherwise."""
    found = access.support_grant_or_refusal(actor, account)
    if isinstance(found, SupportGrant):
        return found
    raise AccountError(_refusal_message(found, actor, account), found.code)


def _refusal_message(refusal: SupportRefusal, actor: Actor, account: Account) -> str:
    match refusal:
        case SupportRefusal.NOT_SIGNED_IN:
            return "Sign in to act as a tenant."
        case SupportRefusal.ALREADY_ACTING:
            acting = access.acting_as(actor)
            name = acting.account.name if acting is not None else "another tenant"
            return f"You already act as {name}. Stop first: support sessions do not nest."
        case SupportRefusal.PARTNER:
            return f"{account.name} is a partner; support acts as tenants."
        case SupportRefusal.CLOSED:
            return f"{account.name} is closed; there is nothing to act as."
        case SupportRefusal.NO_ROLE_ABOVE:
            return (
                f"Acting as {account.name} needs the support role (or more) on an account above it."
            )


def clean_reason(value: str) -> str:
    reason = _CONTROL.sub("", value).strip()
    if not reason:
        raise AccountError("Say why you act as this tenant: the tenant reads it.")
    if len(reason) > REASON_MAX:
        raise AccountError(f"The reason is too long (at most {REASON_MAX} characters).")
    return reason


def clean_ticket(value: str) -> str:
    ticket = _CONTROL.sub("", value).strip()
    if len(ticket) > TICKET_MAX:
        raise AccountError(f"The ticket reference is too long (at most {TICKET_MAX} characters).")
    return ticket


def clean_minutes(value: int | None) -> int:
    longest = settings.PORTAL_SUPPORT_SESSION_MAX_MINUTES
    minutes = settings.PORTAL_SUPPORT_SESSION_MINUTES if value is None else value
    if not 1 <= minutes <= longest:
        raise AccountError(f"A support session lasts from 1 to {longest} minutes.")
    return minutes


# -- services ------------------------------------------------------------------------------------


def start_impersonation(
    actor: AbstractBaseUser | AnonymousUser,
    account: Account,
    *,
    reason: str,
    ticket: str = "",
    minutes: int | None = None,
    allow_changes: bool = False,
    context: RequestContext | None = None,
) -> SupportSession:
    """Open a support session of ``actor`` as ``account``.

    Read-only unless ``allow_changes`` (which only operators and admins or owners above the
    tenant may ask for). Any other open session of the same person (another browser) ends with
    reason ``replaced``: one person acts as one tenant at a time.
    """
    grant = check_may_act_as(actor, account)
    reason = clean_reason(reason)
    ticket = clean_ticket(ticket)
    minutes = clean_minutes(minutes)
    if allow_changes and not grant.may_allow_changes:
        raise AccountError(
            "Your support role lets you look, not change: start a read-only session, or ask an "
            "admin of the account above.",
            "NOT_AUTHORIZED",
        )
    now = timezone.now()
    with transaction.atomic():
        earlier = SupportSession.objects.select_for_update().open().filter(actor_id=actor.pk)
        for previous in earlier:
            why = EndReason.EXPIRED if previous.is_expired(now) else EndReason.REPLACED
            _end(previous, why, actor=actor, context=context, now=now)
        session = SupportSession(
            actor_id=actor.pk,
            actor_label=audit.actor_label(actor),
            actor_role=grant.label,
            account=account,
            reason=reason,
            ticket=ticket,
            allow_changes=allow_changes,
            started_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
        try:
            with transaction.atomic():
                session.save()
        except IntegrityError:
            # Another start of the same person won the race.
            raise AccountError("You just started another support session.", "CONFLICT") from None
        audit.record(
            "support.started",
            actor=actor,
            account=account,
            target_type="support_session",
            target_id=session.correlation_id,
            changes={
                "reason": reason,
                "ticket": ticket,
                "allow_changes": allow_changes,
                "minutes": minutes,
                "acting_with": grant.label,
            },
            context=context,
            correlation_id=session.correlation_id,
        )
    return session


def stop_impersonation(
    session: SupportSession,
    *,
    actor: Actor,
    reason: str = EndReason.STOPPED,
    context: RequestContext | None = None,
) -> SupportSession:
    """End ``session`` (once: ending an ended session changes nothing and writes nothing)."""
    with transaction.atomic():
        locked = SupportSession.objects.select_for_update().select_related("account")
        current = locked.get(pk=session.pk)
        if current.ended_at is None:
            _end(current, EndReason(reason), actor=actor, context=context, now=timezone.now())
    return current


def resume_impersonation(session_id: object, user: AbstractBaseUser | AnonymousUser) -> Resumed:
    """The open session ``session_id`` of ``user``, checked again on every request.

    Ends it here when its time is up (``expired``) or when the person no longer holds what let
    them start it (``access_lost``: their role was removed or lowered, the tenant was closed).
    """
    if not isinstance(session_id, int) or not user.is_authenticated:
        return Resumed()
    session = (
        SupportSession.objects.select_related("account").filter(pk=session_id, actor_id=user.pk)
    ).first()
    if session is None:
        return Resumed()
    if session.ended_at is not None:
        return Resumed(ended=session)
    why: EndReason | None = None
    if session.is_expired():
        why = EndReason.EXPIRED
    else:
        grant = access.support_grant(user, session.account)
        if grant is None or (session.allow_changes and not grant.may_allow_changes):
            why = EndReason.ACCESS_LOST
    if why is not None:
        return Resumed(ended=stop_impersonation(session, actor=None, reason=why))
    return Resumed(impersonation=impersonation_of(session, user))


def impersonation_of(
    session: SupportSession, person: AbstractBaseUser | AnonymousUser
) -> Impersonation:
    """``session`` as its person acts under it (``person`` is the session's actor).

    Also for work the person queued while acting and a worker does later (a background
    conversation): its upstream calls belong to the session's trail even once it has ended.
    """
    return Impersonation(
        session_id=session.pk,
        correlation_id=session.correlation_id,
        account=session.account,
        actor=person,  # type: ignore[arg-type]  # the session's actor: a real user
        allow_changes=session.allow_changes,
        started_at=session.started_at,
        expires_at=session.expires_at,
        reason=session.reason,
        ticket=session.ticket,
    )


def end_expired_sessions(*, now: datetime | None = None) -> int:
    """Mark every open session past its time as expired (beat; idempotent). Returns how many."""
    now = now or timezone.now()
    ended = 0
    due = SupportSession.objects.open().filter(expires_at__lte=now).values_list("pk", flat=True)
    for pk in due:
        with transaction.atomic():
            session = SupportSession.objects.select_for_update().select_related("account")
            current = session.filter(pk=pk, ended_at__isnull=True).first()
            if current is not None:
                _end(current, EndReason.EXPIRED, actor=None, context=None, now=now)
                ended += 1
    return ended


def record_page_view(
    impersonation: Impersonation,
    *,
    method: str,
    path: str,
    status: int,
    context: RequestContext | None = None,
) -> AuditEvent:
    """One page viewed (or form posted) while acting as the tenant."""
    changes = {"method": method, "path": path, "status": status}
    return _record_acting(impersonation, audit.SUPPORT_PAGE_VIEW, "page", "", changes, context)


def audit_upstream_call(
    impersonation: Impersonation,
    *,
    action: str,
    details: Mapping[str, Any] | None = None,
    context: RequestContext | None = None,
) -> AuditEvent:
    """One call made upstream as the tenant while acting (``action``: what was called)."""
    changes = {"call": action, **dict(details or {})}
    return _record_acting(
        impersonation, audit.SUPPORT_UPSTREAM_CALL, "upstream", action[:64], changes, context
    )


def _record_acting(
    impersonation: Impersonation,
    action: str,
    target_type: str,
    target_id: str,
    changes: Mapping[str, Any],
    context: RequestContext | None,
) -> AuditEvent:
    # The person, on the tenant they act as, in the session's trail.
    return audit.record(
        action,
        actor=impersonation.actor,
        account=impersonation.account,
        target_type=target_type,
        target_id=target_id,
        changes=changes,
        context=context,
        correlation_id=impersonation.correlation_id,
    )


aaudit_upstream_call = sync_to_async(audit_upstream_call)


def _end(
    session: SupportSession,
    reason: EndReason,
    *,
    actor: Actor,
    context: RequestContext | None,
    now: datetime,
) -> None:
    # An expired session stopped counting at its expiry, whenever that is noticed.
    session.ended_at = min(now, session.expires_at)
    session.end_reason = reason
    session.save(update_fields=["ended_at", "end_reason"])
    minutes = max(0, int((session.ended_at - session.started_at).total_seconds() // 60))
    audit.record(
        "support.ended",
        actor=actor,
        account=session.account,
        target_type="support_session",
        target_id=session.correlation_id,
        changes={"end_reason": reason.value, "minutes": minutes},
        context=context,
        correlation_id=session.correlation_id,
    )
