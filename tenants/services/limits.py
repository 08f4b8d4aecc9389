"""Limits: plans, an account's plan and rate, a token's rate.

Each change drops the proxy's cached copy once committed (the account tree caches every level's
limits, so a change reaches every worker within ``PROXY_ACCOUNT_CACHE_SECONDS``; a token's rate
travels with its record, republished like a revocation: within a second).

An account's period quotas are its upstream ``limits`` (``update_account(limits=...)``, pushed
to the upstream child too); ``set_account_limits`` takes them as well, for one call that sets
everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from tenants import audit
from tenants.audit import RequestContext
from tenants.models import Account, Plan, Token
from tenants.services.accounts import update_account
from tenants.services.authority import check_may_set_limits
from tenants.services.errors import AccountError, require_open

if TYPE_CHECKING:
    from tenants.audit import Actor

PLAN_LIMITS = ("messages", "tokens", "conversations", "rpm")
_MAX_LIMIT = 10**15
# "Not given" for the optional arguments, where None means "no limit".
UNSET: Any = object()


def _clean_limit(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_LIMIT:
        raise AccountError(f"{name} must be a whole number of at least 0, or null for no limit.")
    return value


def _clean_plan_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("A plan needs a name of at most 100 characters.")
    return name


def _forget_on_commit(accounts: list[Account]) -> None:
    from tenants.proxy import forget_account

    def forget() -> None:
        for account in accounts:
            forget_account(account)

    transaction.on_commit(forget)


def _plan_snapshot(plan: Plan) -> dict[str, Any]:
    return {"name": plan.name, **{name: getattr(plan, name) for name in PLAN_LIMITS}}


def create_plan(
    partner: Account,
    *,
    name: str,
    limits: Mapping[str, int | None] | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> Plan:
    """A plan of ``partner`` (for its tree); ``limits`` among messages, tokens, conversations
    (per period) and rpm. A limit not given is none."""
    if not partner.is_partner:
        raise AccountError("Plans belong to partners.")
    require_open(partner)
    plan = Plan(partner=partner, name=_clean_plan_name(name))
    for key, value in _checked(limits or {}).items():
        setattr(plan, key, value)
    with transaction.atomic():
        try:
            with transaction.atomic():
                plan.save()
        except IntegrityError:
            raise AccountError(
                f"{partner.name} already has a plan {plan.name!r}.", "CONFLICT"
            ) from None
        audit.record(
            "plan.created",
            actor=actor,
            account=partner,
            target_type="plan",
            target_id=str(plan.pk),
            changes=_plan_snapshot(plan),
            context=context,
        )
    return plan


def update_plan(
    plan: Plan,
    *,
    name: str | None = None,
    limits: Mapping[str, int | None] | None = None,
    actor: Actor,
    context: RequestContext | None = None,
) -> Plan:
    """Rename a plan or change its limits (null removes one); every account on it follows."""
    if plan.partner is None:
        raise AccountError("Global plans are the operator's; change them in the admin.")
    before = _plan_snapshot(plan)
    if name is not None:
        plan.name = _clean_plan_name(name)
    for key, value in _checked(limits or {}).items():
        setattr(plan, key, value)
    changes = audit.diff(before, _plan_snapshot(plan))
    if not changes:
        return plan
    with transaction.atomic():
        try:
            with transaction.atomic():
                plan.save(update_fields=[*changes, "updated_at"])
        except IntegrityError:
            raise AccountError(f"A plan {plan.name!r} exists.", "CONFLICT") from None
        audit.record(
            "plan.updated",
            actor=actor,
            account=plan.partner,
            target_type="plan",
            target_id=str(plan.pk),
            changes=changes,
            context=context,
        )
        _forget_on_commit(list(plan.accounts.all()))
    return plan


def set_account_limits(
    account: Account,
    *,
    plan: Plan | None = UNSET,
    rpm: int | None = UNSET,
    limits: Mapping[str, Any] | None = UNSET,
    actor: Actor,
    context: RequestContext | None = None,
) -> Account:
    """Put the account on ``plan`` (None: no plan), set its own ``rpm`` (None: the plan's)
    and its period quotas ``limits`` (the upstream's object, replacing the current one)."""
    require_open(account)
    check_may_set_limits(actor, account)
    if limits is not UNSET:
        update_account(account, limits=limits or {}, actor=actor, context=context)
    changes: dict[str, Any] = {}
    if plan is not UNSET and plan != account.plan:
        if plan is not None and plan.partner_id not in (None, account.partner_pk):
            raise AccountError("That plan belongs to another partner.", "NOT_FOUND")
        changes["plan"] = {
            "before": account.plan.name if account.plan else None,
            "after": plan.name if plan else None,
        }
        account.plan = plan
    if rpm is not UNSET:
        rpm = _clean_limit("rpm", rpm)
        if rpm != account.rpm:
            changes["rpm"] = {"before": account.rpm, "after": rpm}
            account.rpm = rpm
    if not changes:
        return account
    with transaction.atomic():
        fields = ["plan" if key == "plan" else key for key in changes]
        account.save(update_fields=[*fields, "updated_at"])
        audit.record(
            "account.limits_changed", actor=actor, account=account, changes=changes, context=context
        )
        _forget_on_commit([account])
    return account


def set_token_rpm(
    token: Token, *, rpm: int | None, actor: Actor, context: RequestContext | None = None
) -> Token:
    """The token's own requests per minute (None: none); its account's limits apply too."""
    from tenants.credentials.cache import publish

    rpm = _clean_limit("rpm", rpm)
    if rpm == token.rpm:
        return token
    with transaction.atomic():
        changes = {"rpm": {"before": token.rpm, "after": rpm}}
        token.rpm = rpm
        token.save(update_fields=["rpm", "updated_at"])
        audit.record(
            "token.limits_changed",
            actor=actor,
            account=token.account,
            target_type="token",
            target_id=token.token_id,
            changes=changes,
            context=context,
        )
        # Like a revocation: every process re-reads the record within a second.
        transaction.on_commit(lambda: publish(token, revoke_cached=True))
    return token


def _checked(limits: Mapping[str, int | None]) -> dict[str, int | None]:
    unknown = sorted(set(limits) - set(PLAN_LIMITS))
    if unknown:
        raise AccountError(
            f"Unknown limits: {', '.join(unknown)} (known: {', '.join(PLAN_LIMITS)})."
        )
    return {key: _clean_limit(key, value) for key, value in limits.items()}
