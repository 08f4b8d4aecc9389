"""Who may act as whom, and the rules of a support session: reason, duration, changes, nesting,
expiry and withdrawal (tenants.services.impersonation, tenants.access.support_grant)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from tenants import access, tasks
from tenants.models import Account, Membership, Role, SupportSession
from tenants.services import AccountError
from tenants.services.impersonation import (
    check_may_act_as,
    end_expired_sessions,
    resume_impersonation,
    start_impersonation,
    stop_impersonation,
)
from tests.support.conftest import REASON, acting_user, actions, trail

pytestmark = pytest.mark.django_db

EndReason = SupportSession.EndReason


def start(user, account, **kwargs) -> SupportSession:
    return start_impersonation(user, account, reason=kwargs.pop("reason", REASON), **kwargs)


def refusal(user, account, **kwargs) -> AccountError:
    with pytest.raises(AccountError) as caught:
        start(user, account, **kwargs)
    return caught.value


# -- who may act as whom -------------------------------------------------------------------------

# persona -> accounts (names in the world) it may act as: support or more on an account strictly
# above the tenant; operators every tenant; never a partner itself.
MAY_ACT_AS = {
    "a_owner": {"a_child", "a_grandchild", "a_sibling"},
    "a_admin": {"a_child", "a_grandchild", "a_sibling"},
    "a_support": {"a_child", "a_grandchild", "a_sibling"},
    "a_viewer": set(),
    "tenant_user": {"a_grandchild"},  # owner of a_child: its own account is no one's support
    "b_owner": {"b_child"},
    "outsider": set(),
    "staff": {"a_child", "a_grandchild", "a_sibling", "b_child"},
}
ACCOUNTS = ("partner_a", "a_child", "a_grandchild", "a_sibling", "partner_b", "b_child")


@pytest.mark.parametrize("persona", sorted(MAY_ACT_AS))
def test_each_persona_may_act_exactly_as_the_tenants_below_its_support_role(world, persona):
    user = getattr(world, persona)
    actable = {
        name for name in ACCOUNTS if access.support_grant(user, getattr(world, name)) is not None
    }
    listed = set(access.actable_accounts_for(user))
    assert actable == MAY_ACT_AS[persona]
    assert listed == {getattr(world, name) for name in MAY_ACT_AS[persona]}


def _close(account: Account) -> None:
    Account.objects.filter(pk=account.pk).update(status=Account.Status.CLOSED)
    account.refresh_from_db()


@pytest.mark.parametrize("state", ["as made", "a tenant closed", "inactive", "acting"])
@pytest.mark.parametrize("persona", sorted(MAY_ACT_AS))
def test_the_actable_list_and_the_single_account_rule_agree(world, persona, state):
    # actable_accounts_for is support_grant_or_refusal written as a query: for every account,
    # one lists it exactly when the other grants it.
    user = getattr(world, persona)
    if state == "a tenant closed":
        _close(world.a_child)
    elif state == "inactive":
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.refresh_from_db()
    elif state == "acting" and MAY_ACT_AS[persona]:
        acting_user(user, getattr(world, min(MAY_ACT_AS[persona])))
    listed = set(access.actable_accounts_for(user))
    for name in ACCOUNTS:
        account = getattr(world, name)
        granted = access.support_grant(user, account) is not None
        assert (account in listed) == granted, (persona, state, name)


@pytest.mark.parametrize("persona", [*sorted(MAY_ACT_AS), "anonymous"])
def test_a_refusal_to_start_is_the_rules_refusal_with_its_code(world, persona):
    user = getattr(world, persona)
    _close(world.a_sibling)
    for name in (*ACCOUNTS, "a_sibling"):
        account = getattr(world, name)
        decided = access.support_grant_or_refusal(user, account)
        if isinstance(decided, access.SupportGrant):
            assert check_may_act_as(user, account) == decided
            continue
        with pytest.raises(AccountError) as caught:
            check_may_act_as(user, account)
        assert caught.value.code == decided.code, (persona, name)


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (access.SupportRefusal.NOT_SIGNED_IN, "NOT_AUTHENTICATED"),
        (access.SupportRefusal.ALREADY_ACTING, "CONFLICT"),
        (access.SupportRefusal.PARTNER, "NOT_AUTHORIZED"),
        (access.SupportRefusal.CLOSED, "CONFLICT"),
        (access.SupportRefusal.NO_ROLE_ABOVE, "NOT_AUTHORIZED"),
    ],
)
def test_each_refusal_keeps_the_code_it_always_had(refusal, code):
    assert refusal.code == code


def test_anonymous_may_act_as_nobody(world):
    assert access.support_grant(world.anonymous, world.a_child) is None
    assert not access.actable_accounts_for(world.anonymous).exists()
    assert refusal(world.anonymous, world.a_child).code == "NOT_AUTHENTICATED"


def test_a_viewer_is_refused_and_told_what_it_needs(world):
    error = refusal(world.a_viewer, world.a_child)
    assert error.code == "NOT_AUTHORIZED"
    assert "support role" in error.message


def test_acting_as_another_partners_tenant_is_refused(world):
    assert refusal(world.a_owner, world.b_child).code == "NOT_AUTHORIZED"
    assert refusal(world.b_owner, world.a_grandchild).code == "NOT_AUTHORIZED"
    assert not SupportSession.objects.exists()


def test_a_partner_is_no_tenant_to_act_as(world):
    error = refusal(world.staff, world.partner_a)
    assert "partner" in error.message
    assert refusal(world.a_owner, world.partner_a).code == "NOT_AUTHORIZED"


def test_a_closed_tenant_cannot_be_acted_as(world):
    Account.objects.filter(pk=world.a_sibling.pk).update(status=Account.Status.CLOSED)
    world.a_sibling.refresh_from_db()
    assert refusal(world.staff, world.a_sibling).code == "CONFLICT"
    assert access.support_grant(world.a_support, world.a_sibling) is None


def test_a_suspended_tenant_can_be_acted_as(world):
    Account.objects.filter(pk=world.a_child.pk).update(status=Account.Status.SUSPENDED)
    world.a_child.refresh_from_db()
    assert start(world.a_support, world.a_child).account == world.a_child


# -- allow changes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "may"),
    [("staff", True), ("a_owner", True), ("a_admin", True), ("a_support", False)],
)
def test_changes_may_be_allowed_only_by_operators_owners_and_admins_above(world, persona, may):
    user = getattr(world, persona)
    grant = access.support_grant(user, world.a_child)
    assert grant is not None
    assert grant.may_allow_changes is may
    if may:
        assert start(user, world.a_child, allow_changes=True).allow_changes
    else:
        assert refusal(user, world.a_child, allow_changes=True).code == "NOT_AUTHORIZED"
        assert not SupportSession.objects.exists()


def test_the_strongest_role_above_decides(world):
    # Support on the partner, admin on the child: admin above the grandchild allows changes.
    Membership.objects.create(user=world.a_support, account=world.a_child, role=Role.ADMIN)
    grant = access.support_grant(world.a_support, world.a_grandchild)
    assert grant is not None
    assert grant.role == Role.ADMIN
    assert grant.may_allow_changes
    # ...but the child's own admin role is not "above" the child.
    child_grant = access.support_grant(world.a_support, world.a_child)
    assert child_grant is not None
    assert child_grant.role == Role.SUPPORT


def test_a_session_records_what_let_the_person_start_it(world):
    assert start(world.staff, world.a_child).actor_role == "operator"
    assert start(world.a_support, world.a_sibling).actor_role == "support"


# -- reason, ticket, duration --------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_reason_is_required(world, reason):
    error = refusal(world.a_support, world.a_child, reason=reason)
    assert error.code == "BAD_REQUEST"
    assert "why" in error.message.lower()
    assert not SupportSession.objects.exists()


def test_a_reason_longer_than_500_characters_is_refused(world):
    assert "too long" in refusal(world.a_support, world.a_child, reason="x" * 501).message
    assert start(world.a_support, world.a_child, reason="x" * 500).reason == "x" * 500


def test_reason_and_ticket_are_kept_trimmed_and_without_control_characters(world):
    session = start(world.a_support, world.a_child, reason="  Bad\x00 usage  ", ticket=" T-1\x07 ")
    assert (session.reason, session.ticket) == ("Bad usage", "T-1")


def test_the_ticket_is_optional_and_bounded(world):
    assert start(world.a_support, world.a_child).ticket == ""
    assert "too long" in refusal(world.a_admin, world.a_child, ticket="T" * 101).message


def test_a_session_lasts_30_minutes_by_default(world):
    session = start(world.a_support, world.a_child)
    assert session.expires_at - session.started_at == timedelta(minutes=30)


@override_settings(PORTAL_SUPPORT_SESSION_MINUTES=10, PORTAL_SUPPORT_SESSION_MAX_MINUTES=45)
def test_the_default_and_longest_duration_are_configured(world):
    session = start(world.a_support, world.a_child)
    assert session.expires_at - session.started_at == timedelta(minutes=10)
    assert "1 to 45 minutes" in refusal(world.a_admin, world.a_child, minutes=46).message
    longest = start(world.a_admin, world.a_child, minutes=45)
    assert longest.expires_at - longest.started_at == timedelta(minutes=45)


@pytest.mark.parametrize("minutes", [0, -5, 121])
def test_a_duration_outside_the_allowed_range_is_refused(world, minutes):
    assert refusal(world.a_support, world.a_child, minutes=minutes).code == "BAD_REQUEST"


# -- one at a time: no nesting -------------------------------------------------------------------


def test_nobody_starts_acting_while_acting(world):
    support = acting_user(world.a_support, world.a_child)
    error = refusal(support, world.a_grandchild)
    assert error.code == "CONFLICT"
    assert "do not nest" in error.message
    assert access.support_grant(support, world.a_grandchild) is None
    assert not access.actable_accounts_for(support).exists()
    assert SupportSession.objects.open().count() == 1


def test_staff_acting_as_a_tenant_cannot_start_another_session_below_it(world):
    staff = acting_user(world.staff, world.a_child, allow_changes=True)
    assert refusal(staff, world.a_grandchild).code == "CONFLICT"


def test_starting_in_another_browser_replaces_the_open_session(world):
    first = start(world.a_support, world.a_child)
    second = start(world.a_support, world.a_sibling)
    first.refresh_from_db()
    assert first.end_reason == EndReason.REPLACED
    assert first.ended_at is not None
    assert second.ended_at is None
    assert SupportSession.objects.open().filter(actor=world.a_support).get() == second
    assert "support.ended" in actions(first)


def test_the_database_holds_one_open_session_per_person(world):
    start(world.a_support, world.a_child)
    with pytest.raises(IntegrityError), transaction.atomic():
        SupportSession.objects.create(
            actor=world.a_support,
            actor_label="a_support",
            actor_role="support",
            account=world.a_sibling,
            reason=REASON,
            expires_at=timezone.now() + timedelta(minutes=5),
        )


def test_different_people_may_act_as_the_same_tenant_at_once(world):
    start(world.a_support, world.a_child)
    start(world.a_admin, world.a_child)
    assert SupportSession.objects.open().filter(account=world.a_child).count() == 2


# -- stopping, expiry, withdrawal ----------------------------------------------------------------


def test_stopping_ends_the_session_once(world):
    session = start(world.a_support, world.a_child)
    stop_impersonation(session, actor=world.a_support)
    stop_impersonation(session, actor=world.a_support)
    session.refresh_from_db()
    assert session.end_reason == EndReason.STOPPED
    assert actions(session) == ["support.started", "support.ended"]


def test_an_open_session_resumes_as_an_impersonation(world):
    session = start(world.a_admin, world.a_child, allow_changes=True, ticket="T-9")
    acting = resume_impersonation(session.pk, world.a_admin).impersonation
    assert acting is not None
    assert (acting.account, acting.actor, acting.correlation_id) == (
        world.a_child,
        world.a_admin,
        session.correlation_id,
    )
    assert acting.allow_changes
    assert acting.session_id == session.pk
    assert acting.expires_at == session.expires_at
    assert 29 * 60 < acting.seconds_left <= 30 * 60


def test_a_session_is_only_resumed_by_its_own_person(world):
    session = start(world.a_support, world.a_child)
    assert resume_impersonation(session.pk, world.a_admin).impersonation is None
    assert resume_impersonation(str(session.pk), world.a_support).impersonation is None


def test_an_expired_session_ends_itself_when_the_person_comes_back(world):
    session = start(world.a_support, world.a_child)
    SupportSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    resumed = resume_impersonation(session.pk, world.a_support)
    assert resumed.impersonation is None
    assert resumed.ended is not None
    assert resumed.ended.end_reason == EndReason.EXPIRED
    session.refresh_from_db()
    assert session.ended_at == session.expires_at  # it stopped counting at its expiry
    assert actions(session) == ["support.started", "support.ended"]
    assert trail(session)[-1].actor_label == "system"


def test_removing_the_persons_role_ends_the_session(world):
    session = start(world.a_support, world.a_child)
    Membership.objects.filter(user=world.a_support).delete()
    resumed = resume_impersonation(session.pk, world.a_support)
    assert resumed.impersonation is None
    assert resumed.ended is not None
    assert resumed.ended.end_reason == EndReason.ACCESS_LOST


def test_lowering_an_admin_to_support_ends_a_session_that_allows_changes(world):
    session = start(world.a_admin, world.a_child, allow_changes=True)
    Membership.objects.filter(user=world.a_admin).update(role=Role.SUPPORT)
    ended = resume_impersonation(session.pk, world.a_admin).ended
    assert ended is not None
    assert ended.end_reason == EndReason.ACCESS_LOST


def test_closing_the_tenant_ends_the_sessions_acting_as_it(world):
    session = start(world.a_support, world.a_child)
    Account.objects.filter(pk=world.a_child.pk).update(status=Account.Status.CLOSED)
    ended = resume_impersonation(session.pk, world.a_support).ended
    assert ended is not None
    assert ended.end_reason == EndReason.ACCESS_LOST


def test_beat_marks_forgotten_sessions_as_expired_once(world):
    old = start(world.a_support, world.a_child)
    fresh = start(world.a_admin, world.a_child)
    SupportSession.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert end_expired_sessions() == 1
    assert end_expired_sessions() == 0
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.end_reason == EndReason.EXPIRED
    assert fresh.ended_at is None


def test_beat_runs_the_expiry_as_a_task(world):
    session = start(world.a_support, world.a_child)
    SupportSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert "tenants.tasks.end_expired_support_sessions" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert tasks.end_expired_support_sessions() == 1


def test_resuming_a_session_on_each_request_costs_two_queries(world, django_assert_num_queries):
    session = start(world.a_support, world.a_child)
    with django_assert_num_queries(2):  # the session (with its tenant), the person's role
        assert resume_impersonation(session.pk, world.a_support).impersonation is not None
    staff_session = start(world.staff, world.b_child)
    with django_assert_num_queries(1):  # operators hold no role to check
        assert resume_impersonation(staff_session.pk, world.staff).impersonation is not None


def test_a_default_longer_than_the_maximum_stops_the_process_with_a_message():
    env = {
        **os.environ,
        "PORTAL_SUPPORT_SESSION_MINUTES": "90",
        "PORTAL_SUPPORT_SESSION_MAX_MINUTES": "60",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import portal.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "PORTAL_SUPPORT_SESSION_MINUTES (90) is longer than" in result.stderr
