"""Thresholds: 50/80/100 % of each quota, once per period per account, e-mailed and posted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tenants.alerts.models import ThresholdAlert, WebhookDelivery
from tenants.alerts.thresholds import check_thresholds
from tenants.alerts.webhooks import create_endpoint
from tenants.metering.models import UsageEvent
from tenants.metering.rollups import rollup_usage
from tenants.models import Role
from tests.alerts.conftest import set_quotas, use
from tests.factories import make_member, make_user, make_world

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def fired(account) -> list[tuple[str, str, int]]:
    return sorted(
        ThresholdAlert.objects.filter(account=account).values_list("period", "quota", "threshold")
    )


def test_crossing_50_then_80_then_100_fires_each_once(django_capture_on_commit_callbacks):
    world = make_world()
    tenant = world.a_child
    set_quotas(tenant, messages=10)

    use(tenant, NOW - timedelta(minutes=5), messages=4)
    assert check_thresholds(now=NOW) == []

    use(tenant, NOW - timedelta(minutes=4), messages=1)  # 5 of 10
    assert len(check_thresholds(now=NOW)) == 1
    assert fired(tenant) == [("2026-11", "messages", 50)]

    use(tenant, NOW - timedelta(minutes=3), messages=3)  # 8 of 10
    check_thresholds(now=NOW)
    use(tenant, NOW - timedelta(minutes=2), messages=5)  # 13 of 10
    check_thresholds(now=NOW)
    assert fired(tenant) == [
        ("2026-11", "messages", 50),
        ("2026-11", "messages", 80),
        ("2026-11", "messages", 100),
    ]
    hundred = ThresholdAlert.objects.get(account=tenant, threshold=100)
    assert (hundred.used, hundred.limit) == (13, 10)

    # A rerun (or a second beat) does nothing.
    assert check_thresholds(now=NOW) == []
    assert check_thresholds(now=NOW + timedelta(minutes=1)) == []
    assert ThresholdAlert.objects.filter(account=tenant).count() == 3


def test_jumping_past_several_thresholds_fires_them_all_at_once():
    world = make_world()
    set_quotas(world.a_child, tokens=1000, conversations=4)
    use(world.a_child, NOW - timedelta(minutes=1), tokens=900, conv=1)

    check_thresholds(now=NOW)

    assert fired(world.a_child) == [("2026-11", "tokens", 50), ("2026-11", "tokens", 80)]


def test_a_new_period_fires_again():
    world = make_world()
    set_quotas(world.a_child, messages=2)
    use(world.a_child, NOW - timedelta(minutes=1), messages=2)
    check_thresholds(now=NOW)
    assert len(fired(world.a_child)) == 3

    december = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert check_thresholds(now=december) == []  # November's usage is not December's
    use(world.a_child, december - timedelta(minutes=10), messages=1)
    assert len(check_thresholds(now=december)) == 1  # 1 of 2

    assert [row for row in fired(world.a_child) if row[0] == "2026-12"] == [
        ("2026-12", "messages", 50)
    ]


def test_periods_follow_the_account_time_zone():
    world = make_world()
    tenant = world.a_child
    tenant.timezone = "Europe/Paris"
    tenant.save(update_fields=["timezone"])
    set_quotas(tenant, messages=2)
    # 23:30 UTC on 30 November is 00:30 on 1 December in Paris: December's period.
    moment = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    use(tenant, moment - timedelta(minutes=20), messages=2)  # 00:10 in Paris
    check_thresholds(now=moment)

    assert {row[0] for row in fired(tenant)} == {"2026-12"}


def test_settled_rollups_and_a_childs_usage_count(settings):
    world = make_world()
    parent, child = world.a_child, world.a_grandchild
    set_quotas(parent, messages=10)
    early = NOW - timedelta(hours=10)  # older than the rollup lookback: read from rollups
    use(child, early, messages=6)
    rollup_usage(start=early - timedelta(hours=1), end=NOW, now=NOW)
    UsageEvent.objects.all().delete()  # proves the hour is read from its rollup

    check_thresholds(now=NOW)

    assert fired(parent) == [("2026-11", "messages", 50)]
    assert fired(child) == []  # the child has no quota of its own


def test_emails_go_to_the_accounts_owners_and_admins_only(
    mailoutbox, django_capture_on_commit_callbacks
):
    world = make_world()
    tenant = world.a_child  # tenant_user is its owner
    admin = make_user("child_admin", email="admin@child.example")
    make_member(admin, tenant, Role.ADMIN)
    make_member(make_user("child_viewer", email="viewer@child.example"), tenant, Role.VIEWER)
    make_member(make_user("child_support", email="s@child.example"), tenant, Role.SUPPORT)
    set_quotas(tenant, messages=10)
    use(tenant, NOW - timedelta(minutes=1), messages=8)

    with django_capture_on_commit_callbacks(execute=True):
        check_thresholds(now=NOW)

    assert len(mailoutbox) == 2  # 50 % and 80 %
    for message in mailoutbox:
        assert sorted(message.to) == ["admin@child.example", "tenant_user@people.example"]
        assert message.subject.startswith("[Partner Portal] ")
        assert "messages per period" in message.body
        assert "8 of 10" in message.body
        assert "resets on 1 December 00:00 UTC" in message.body
    assert "80% of its messages per period" in mailoutbox[1].subject
    # Partner A's people are not the tenant's owners or admins.
    assert not any("a_owner" in ",".join(m.to) for m in mailoutbox)


def test_a_threshold_posts_a_signed_event_to_each_webhook(
    receiver, django_capture_on_commit_callbacks
):
    from tenants.alerts import signing

    world = make_world()
    tenant = world.a_child
    endpoint, secret = create_endpoint(tenant, url=receiver.url, actor=None)
    set_quotas(tenant, conversations=2)
    use(tenant, NOW - timedelta(minutes=1), conv=1)

    with django_capture_on_commit_callbacks(execute=True):
        check_thresholds(now=NOW)

    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert signing.verify(secret, got.body, got.headers["X-Portal-Signature"])
    assert got.headers["X-Portal-Event"] == "usage.threshold"
    event = got.json
    assert event["type"] == "usage.threshold"
    assert event["account"]["id"] == tenant.public_id
    assert event["data"] == {
        "quota": "conversations",
        "threshold": 50,
        "used": 1,
        "limit": 2,
        "period": "2026-11",
        "resets_at": "2026-12-01T00:00:00+00:00",
    }
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.event_id == event["id"] == got.headers["X-Portal-Delivery"]


def test_the_batched_read_matches_the_per_account_one_in_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    from tenants.alerts.thresholds import period_usage, period_usages
    from tenants.limits.periods import period_at

    world = make_world()
    world.a_child.timezone = "Asia/Kolkata"  # +05:30: a period start off the UTC hour
    world.a_child.save(update_fields=["timezone"])
    early = NOW - timedelta(hours=10)
    use(world.a_grandchild, early, messages=6, tokens=60)
    use(world.a_child, NOW - timedelta(minutes=5), messages=1, tokens=7)
    use(world.a_sibling, early, messages=2)
    use(world.b_child, early, messages=100)  # another partner: counted for nobody above
    rollup_usage(start=early - timedelta(hours=1), end=NOW, now=NOW)
    accounts = [world.partner_a, world.a_child, world.a_grandchild, world.partner_b]
    pairs = [(account, period_at(account.timezone, NOW)) for account in accounts]

    with django_assert_max_num_queries(6):  # paths, then 2 per distinct period start
        batched = period_usages(pairs, NOW)

    for account, period in pairs:
        assert batched[account.pk] == period_usage(account, period, NOW), account.name
    assert batched[world.partner_a.pk]["messages"] == 9
    assert batched[world.partner_b.pk]["messages"] == 100
