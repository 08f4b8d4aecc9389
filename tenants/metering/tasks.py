"""Celery tasks of metering: thin, ids in, idempotent (each rebuilds or replaces, never adds)."""

from __future__ import annotations

from celery import shared_task

from portal.upstream import UpstreamHTTPError, UpstreamTimeout, UpstreamUnavailable
from tenants.metering import reconciliation, rollups


@shared_task(name="tenants.metering.tasks.rollup_usage", ignore_result=True)
def rollup_usage() -> int:
    """Rebuild the recent (and late-touched) hourly and daily rollups (beat: every 5 minutes)."""
    return rollups.rollup_usage()


@shared_task(name="tenants.metering.tasks.purge_usage_events", ignore_result=True)
def purge_usage_events() -> int:
    """Delete raw events past the retention (beat: nightly); rollups stay."""
    return rollups.purge_usage_events()


@shared_task(name="tenants.metering.tasks.reconcile_usage", ignore_result=True)
def reconcile_usage() -> int:
    """Queue one reconciliation per child (beat: nightly)."""
    account_ids = reconciliation.children_to_reconcile()
    for account_id in account_ids:
        reconcile_account_usage.delay(account_id)
    return len(account_ids)


@shared_task(
    name="tenants.metering.tasks.reconcile_account_usage",
    ignore_result=True,
    autoretry_for=(UpstreamUnavailable, UpstreamTimeout, UpstreamHTTPError),
    retry_backoff=60,
    retry_jitter=True,
    max_retries=3,
)
def reconcile_account_usage(account_id: int) -> None:
    """One child against the upstream's usage/fetch; quietly nothing if the account is gone.

    Retried on what may pass (unreachable, timeouts, 429 and 5xx answers): the service raises
    only those; any other refusal is stored as a flagged reconciliation.
    """
    reconciliation.reconcile_account(account_id)
