"""The threshold check (beat, every minute): 50/80/100 % of each period quota, once per period.

For every account with at least one period quota (its plan's, overridden by its own limits:
``tenants.limits.policy.level_values``), the usage of the current period in the account's time
zone (``tenants.limits.periods``) is read the way metering reads it (hourly rollups for settled
hours, raw events for the recent ones, ``tenants.metering.reconciliation``), over the account
*and its descendants*, since a tenant's usage counts against each ancestor's quotas as well.
All accounts are read together (``period_usages``): each account's own totals grouped in the
database once per distinct period start, then summed up the materialized paths in Python, so a
run costs a handful of queries whatever the number of accounts (two per account before: about
11 min per run at 2,008 accounts with quotas and 1M events, see ``bench/results/usage-scale.md``).

Each threshold reached inserts one ``ThresholdAlert`` row; the unique constraint on (account,
period, quota, threshold) makes reruns and concurrent runs insert nothing twice, and only the
run that inserted a row notifies: an e-mail to the account's owners and admins, and a
``usage.threshold`` event to each of its webhooks, both once the row is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from tenants.alerts import webhooks
from tenants.alerts.models import ThresholdAlert
from tenants.branding import brand_for_account
from tenants.branding.mail import send_branded_mail
from tenants.limits.periods import Period, period_at
from tenants.limits.policy import QUOTAS, level_values
from tenants.metering.models import UsageEvent, UsageRollup
from tenants.metering.rollups import HOUR, floor_hour
from tenants.models import Account, Membership, Role

logger = logging.getLogger("tenants.alerts")

_QUOTA_WORDS = {
    "messages": "messages per period",
    "tokens": "tokens per period",
    "conversations": "conversations per period",
}


def quotas_of(account: Account) -> dict[str, int]:
    """The account's effective period quotas (only those that are set)."""
    plan = account.plan
    values = level_values(
        {
            "pk": account.pk,
            "public_id": account.public_id,
            "name": account.name,
            "timezone": account.timezone,
            "limits": account.limits,
            "rpm": account.rpm,
            **{f"plan__{name}": getattr(plan, name, None) for name in (*QUOTAS, "rpm")},
        }
    )
    return dict(values["quotas"])


def period_usage(account: Account, period: Period, now: datetime) -> dict[str, int]:
    """Messages, tokens and conversations of ``account`` and its subtree in ``period`` so far."""
    start = period.start
    first_full_hour = floor_hour(start) if floor_hour(start) == start else floor_hour(start) + HOUR
    recent = max(
        first_full_hour,
        floor_hour(now - timedelta(hours=settings.METERING_ROLLUP_LOOKBACK_HOURS)),
    )
    sums = {f"sum_{unit}": Sum(unit) for unit in QUOTAS}
    settled = UsageRollup.objects.filter(
        granularity=UsageRollup.Granularity.HOUR,
        account__path__startswith=account.path,
        token_id=UsageRollup.ALL_TOKENS,
        bucket_start__gte=first_full_hour,
        bucket_start__lt=recent,
    ).aggregate(**sums)
    # Raw events for what the rollups do not cover: a period start that is not on a UTC hour
    # (zones with half-hour offsets), and the hours the rollup task may not have settled yet.
    fresh = UsageEvent.objects.filter(
        Q(created_at__gte=start, created_at__lt=first_full_hour)
        | Q(created_at__gte=recent, created_at__lte=now),
        account__path__startswith=account.path,
    ).aggregate(**sums)
    return {unit: (settled[f"sum_{unit}"] or 0) + (fresh[f"sum_{unit}"] or 0) for unit in QUOTAS}


def accounts_with_quotas() -> Iterable[Account]:
    """Open accounts whose plan or own limits set a period quota."""
    plan_quota = Q(plan__messages__isnull=False)
    for name in QUOTAS[1:]:
        plan_quota |= Q(**{f"plan__{name}__isnull": False})
    return (
        Account.objects.exclude(status=Account.Status.CLOSED)
        .filter(plan_quota | ~Q(limits={}))
        .select_related("plan")
        .order_by("pk")
        .iterator(chunk_size=500)
    )


def period_usages(
    accounts: Sequence[tuple[Account, Period]], now: datetime
) -> dict[int, dict[str, int]]:
    """``period_usage`` of many accounts at once: a handful of queries, not two per account.

    Per distinct period start (one per time zone offset in use): each account's *own* totals,
    grouped in the database (hourly rollups, then raw events, the same windows as
    ``period_usage``); then every account's subtree total is summed in Python by walking the
    materialized paths, as ``tenants.metering.partner_usage.overview`` does.
    """
    if not accounts:
        return {}
    paths = dict(Account.objects.values_list("pk", "path"))
    by_start: dict[datetime, set[int]] = {}
    for account, period in accounts:
        by_start.setdefault(period.start, set()).add(account.pk)
    sums = {unit: Sum(unit) for unit in QUOTAS}
    result: dict[int, dict[str, int]] = {}
    for start, wanted in by_start.items():
        first_full_hour = (
            floor_hour(start) if floor_hour(start) == start else floor_hour(start) + HOUR
        )
        recent = max(
            first_full_hour,
            floor_hour(now - timedelta(hours=settings.METERING_ROLLUP_LOOKBACK_HOURS)),
        )
        settled = (
            UsageRollup.objects.filter(
                granularity=UsageRollup.Granularity.HOUR,
                token_id=UsageRollup.ALL_TOKENS,
                bucket_start__gte=first_full_hour,
                bucket_start__lt=recent,
            )
            .values("account_id")
            .annotate(**sums)
            .order_by()
        )
        fresh = (
            UsageEvent.objects.filter(
                Q(created_at__gte=start, created_at__lt=first_full_hour)
                | Q(created_at__gte=recent, created_at__lte=now)
            )
            .values("account_id")
            .annotate(**sums)
            .order_by()
        )
        totals = {pk: dict.fromkeys(QUOTAS, 0) for pk in wanted}
        for rows in (settled, fresh):
            for row in cast(Iterable[dict[str, Any]], rows):
                path = paths.get(row["account_id"])
                if path is None:  # usage of an account that is gone: counted for nobody
                    continue
                for part in path.strip("/").split("/"):
                    used = totals.get(int(part)) if part else None
                    if used is not None:
                        for unit in QUOTAS:
                            used[unit] += row[unit] or 0
        result.update(totals)
    return result


def check_thresholds(*, now: datetime | None = None) -> list[int]:
    """Fire every threshold reached and not yet fired this period; the new alerts' ids."""
    now = now or timezone.now()
    due: list[tuple[Account, Period, dict[str, int]]] = []
    for account in accounts_with_quotas():
        quotas = quotas_of(account)
        if quotas:
            due.append((account, period_at(account.timezone, now), quotas))
    used_by_pk = period_usages([(account, period) for account, period, _ in due], now)
    already = set(
        ThresholdAlert.objects.filter(period__in={period.key for _, period, _ in due}).values_list(
            "account_id", "period", "quota", "threshold"
        )
    )
    fired: list[int] = []
    for account, period, quotas in due:
        used = used_by_pk[account.pk]
        for quota, limit in quotas.items():
            for threshold in settings.ALERTS_THRESHOLDS:
                if not reached(used[quota], limit, threshold):
                    continue
                if (account.pk, period.key, quota, threshold) in already:
                    continue
                alert = _fire(account, period, quota, threshold, used[quota], limit)
                if alert is not None:
                    fired.append(alert.pk)
    return fired


def reached(used: int, limit: int, threshold: int) -> bool:
    """``used`` is at least ``threshold`` percent of ``limit`` (a zero limit blocks everything
    from the start: nothing to warn about)."""
    if limit <= 0:
        return False
    return used * 100 >= limit * threshold


def _fire(
    account: Account, period: Period, quota: str, threshold: int, used: int, limit: int
) -> ThresholdAlert | None:
    if ThresholdAlert.objects.filter(
        account=account, period=period.key, quota=quota, threshold=threshold
    ).exists():
        return None
    try:
        with transaction.atomic():
            alert = ThresholdAlert.objects.create(
                account=account,
                period=period.key,
                quota=quota,
                threshold=threshold,
                used=used,
                limit=limit,
                resets_at=period.end,
            )
            _notify(account, alert, period)
    except IntegrityError:
        return None  # another run fired it first
    logger.info(
        "usage alert: %s reached %d%% of its %s (%d of %d)",
        account.public_id,
        threshold,
        quota,
        used,
        limit,
    )
    return alert


def describe(alert: ThresholdAlert) -> str:
    return f"{alert.threshold}% of {_QUOTA_WORDS[alert.quota]}"


def recipients(account: Account) -> list[str]:
    """E-mail addresses of the account's own owners and admins."""
    emails = (
        Membership.objects.filter(
            account=account, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True
        )
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
        .distinct()
    )
    return list(emails)


def _notify(account: Account, alert: ThresholdAlert, period: Period) -> None:
    """Inside the alert's transaction: queue the webhooks, e-mail once committed."""
    reset = period.describe_reset()
    data = {
        "quota": alert.quota,
        "threshold": alert.threshold,
        "used": alert.used,
        "limit": alert.limit,
        "period": alert.period,
        "resets_at": period.end.isoformat(),
    }
    for endpoint in account.webhooks.all():
        webhooks.queue_event(endpoint, webhooks.EVENT_THRESHOLD, data)
    to = recipients(account)
    if not to:
        return
    # The account's partner's brand: a tenant hears from its partner's product, never another's.
    brand = brand_for_account(account)
    words = _QUOTA_WORDS[alert.quota]
    if alert.threshold >= 100:
        headline = f"{account.name} has reached its limit of {alert.limit} {words}"
    else:
        headline = f"{account.name} has used {alert.threshold}% of its {words}"
    subject = f"[{brand.product_name}] {headline}"
    body = (
        f"{headline}.\n\n"
        f"Limit: {words}, {alert.limit}\n"
        f"Used this period ({period.label}): {alert.used} of {alert.limit}\n"
        f"The period resets on {reset}.\n"
    )
    if alert.threshold >= 100:
        body += "\nCalls that need more are refused with LIMITS_REACHED until then.\n"
    body += f"\n{brand.product_name}: {brand.base_url}/accounts/{account.public_id}/\n"
    transaction.on_commit(lambda: send_branded_mail(brand, subject=subject, body=body, to=to))
