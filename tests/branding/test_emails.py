"""E-mails about an account carry its partner's brand: the product name in the subject and the
sender's name, the support address as Reply-To and in the signature, the footer, and links on
the partner's own host. Partners without a brand mail as the operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import parseaddr

import pytest

from tenants.alerts.thresholds import check_thresholds
from tenants.branding import forget_brands
from tenants.models import Role
from tenants.services import invite_member, update_brand
from tests.alerts.conftest import set_quotas, use
from tests.branding.conftest import A_HOST, B_HOST
from tests.factories import make_member, make_user, make_world

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_an_invitation_to_a_tenant_carries_its_partners_brand(
    branded, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite_member(
            branded.a_grandchild, email="new@x.example", role=Role.VIEWER, actor=branded.a_owner
        )
    (message,) = mailoutbox
    assert message.subject == "You are invited to A Grandchild on Acme Cloud"
    assert parseaddr(message.from_email) == ("Acme Cloud", "portal@localhost")
    assert message.reply_to == ["help@acme.example"]
    assert f"http://{A_HOST}/invitations/" in message.body
    assert message.body.endswith(
        "-- \nAcme Cloud\nSupport: help@acme.example\nAcme Cloud is a service of Acme Inc.\n"
    )
    assert "Globex" not in message.body + message.subject + message.from_email


def test_an_invitation_from_a_partner_without_a_brand_is_the_operators(
    mailoutbox, django_capture_on_commit_callbacks
):
    world = make_world()
    with django_capture_on_commit_callbacks(execute=True):
        invite_member(world.b_child, email="new@x.example", role=Role.VIEWER, actor=None)
    (message,) = mailoutbox
    assert message.subject == "You are invited to B Child on Partner Portal"
    assert message.from_email == "Partner Portal <portal@localhost>"
    assert message.reply_to == []
    assert "http://127.0.0.1:8000/invitations/" in message.body


def test_a_usage_alert_carries_the_partners_brand(
    branded, mailoutbox, django_capture_on_commit_callbacks
):
    tenant = branded.b_child
    make_member(make_user("b_child_admin", email="admin@b-child.example"), tenant, Role.ADMIN)
    set_quotas(tenant, messages=10)
    use(tenant, NOW - timedelta(minutes=1), messages=6)
    with django_capture_on_commit_callbacks(execute=True):
        check_thresholds(now=NOW)
    (message,) = mailoutbox
    assert message.subject == "[Globex AI] B Child has used 50% of its messages per period"
    assert parseaddr(message.from_email)[0] == "Globex AI"
    assert message.reply_to == ["support@globex.example"]
    assert f"Globex AI: http://{B_HOST}/accounts/{tenant.public_id}/" in message.body
    assert "Globex AI, Springfield" in message.body
    assert "Acme" not in message.body + message.subject


def test_a_product_name_with_accents_makes_a_valid_sender(
    branded, mailoutbox, django_capture_on_commit_callbacks
):
    update_brand(branded.partner_a, changes={"product_name": "Café Nuage, Inc."}, actor=None)
    forget_brands()
    with django_capture_on_commit_callbacks(execute=True):
        invite_member(branded.a_child, email="new@x.example", role=Role.VIEWER, actor=None)
    (message,) = mailoutbox
    parsed = message_from_bytes(message.message().as_bytes(), policy=policy.default)
    assert parsed["From"].addresses[0].display_name == "Café Nuage, Inc."
    assert parsed["From"].addresses[0].addr_spec == "portal@localhost"
    assert parsed["Subject"] == "You are invited to A Child on Café Nuage, Inc."
