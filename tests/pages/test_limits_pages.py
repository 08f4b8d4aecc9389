"""The limits pages: an account's plan, rate and quotas (set from above), a partner's plans,
and a token's own rate on the token form."""

from __future__ import annotations

import re

import pytest

from tenants.models import Account, AuditEvent, Plan, Role, Token
from tenants.services import onboard_tenant
from tests.factories import make_member, make_partner, make_user
from tests.pages.conftest import HTMX


def limits_url(account: Account) -> str:
    return f"/accounts/{account.public_id}/limits/"


def plans_url(account: Account) -> str:
    return f"/plans/?partner={account.public_id}"


def row(body: str, key: str) -> str:
    """The table row of one limit on the limits page (or the account page's card)."""
    found = re.search(rf'<tr class="limit-{key}">(.*?)</tr>', body, re.S)
    assert found, f"no row for {key}"
    return re.sub(r"\s+", " ", found.group(1))


@pytest.fixture
def plan_a(pages) -> Plan:
    return Plan.objects.create(partner=pages.partner_a, name="Gold", messages=100, rpm=60)


# -- an account's limits: who sees the form, who reads ----------------------------------------


@pytest.mark.parametrize("persona", ["a_owner", "a_admin", "staff"])
def test_admins_of_the_parent_get_the_form_and_save_plan_and_rate(
    pages, client_for, plan_a, persona
):
    client = client_for(persona)
    page = client.get(limits_url(pages.a_child))
    assert page.status_code == 200
    assert 'name="limit_messages"' in page.content.decode()
    response = client.post(limits_url(pages.a_child), {"plan": str(plan_a.pk), "rpm": "25"})
    assert response.status_code == 303
    pages.a_child.refresh_from_db()
    assert pages.a_child.plan == plan_a
    assert pages.a_child.rpm == 25
    assert AuditEvent.objects.filter(
        account=pages.a_child, action="account.limits_changed"
    ).exists()


@pytest.mark.parametrize("persona", ["a_support", "a_viewer", "tenant_user"])
def test_others_who_see_the_account_read_them_and_a_forced_post_is_refused(
    pages, client_for, plan_a, persona
):
    client = client_for(persona)
    page = client.get(limits_url(pages.a_child))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="limit_messages"' not in body
    assert "Only admins of Partner A may change the limits of A Child." in body
    response = client.post(limits_url(pages.a_child), {"plan": str(plan_a.pk), "rpm": "1000"})
    assert response.status_code == 403
    pages.a_child.refresh_from_db()
    assert pages.a_child.plan is None
    assert pages.a_child.rpm is None


@pytest.mark.parametrize("persona", ["b_owner", "outsider"])
def test_people_of_another_partner_get_404(pages, client_for, persona):
    client = client_for(persona)
    assert client.get(limits_url(pages.a_child)).status_code == 404
    assert client.post(limits_url(pages.a_child), {"rpm": "5"}).status_code == 404
    pages.a_child.refresh_from_db()
    assert pages.a_child.rpm is None


def test_anonymous_is_sent_to_log_in(pages, client_for):
    for response in (
        client_for("anonymous").get(limits_url(pages.a_child)),
        client_for("anonymous").post(limits_url(pages.a_child), {"rpm": "5"}),
        client_for("anonymous").get(plans_url(pages.partner_a)),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_a_partners_own_limits_are_the_operators(pages, client_for):
    owner = client_for("a_owner")
    body = owner.get(limits_url(pages.partner_a)).content.decode()
    assert 'name="limit_messages"' not in body
    assert owner.post(limits_url(pages.partner_a), {"limit_messages": "9"}).status_code == 403
    response = client_for("staff").post(
        limits_url(pages.partner_a), {"limit_messages": "1000", "limit_conversations": "0"}
    )
    assert response.status_code == 303
    pages.partner_a.refresh_from_db()
    assert pages.partner_a.limits == {"messages": 1000, "conversations": 0}


# -- values and what applies --------------------------------------------------------------


def test_the_page_and_the_account_card_show_plan_override_and_what_applies(
    pages, client_for, plan_a
):
    Account.objects.filter(pk=pages.a_child.pk).update(plan=plan_a, limits={"messages": 5})
    for url in (limits_url(pages.a_child), f"/accounts/{pages.a_child.public_id}/"):
        body = client_for("tenant_user").get(url).content.decode()
        messages = row(body, "messages")
        assert '>5 <span class="badge">override</span>' in messages
        assert ">100<" in messages  # the plan's, overridden
        rpm = row(body, "rpm")
        assert '>60 <span class="badge">plan</span>' in rpm
        assert "no limit" in row(body, "tokens")


def test_after_saving_the_page_shows_the_new_values(pages, client_for, plan_a):
    client = client_for("a_admin")
    response = client.post(
        limits_url(pages.a_child), {"plan": str(plan_a.pk), "rpm": "7"}, follow=True
    )
    body = response.content.decode()
    assert "Saved." in body
    assert '>7 <span class="badge">override</span>' in row(body, "rpm")
    assert '>100 <span class="badge">plan</span>' in row(body, "messages")
    # Back to the plan's rate and no plan: blank and "No plan".
    client.post(limits_url(pages.a_child), {"plan": "", "rpm": ""})
    pages.a_child.refresh_from_db()
    assert pages.a_child.plan is None
    assert pages.a_child.rpm is None


def test_a_global_plan_can_be_chosen_another_partners_cannot(pages, client_for):
    global_plan = Plan.objects.create(partner=None, name="Everyone", rpm=10)
    theirs = Plan.objects.create(partner=pages.partner_b, name="B only")
    client = client_for("a_admin")
    page = client.get(limits_url(pages.a_child)).content.decode()
    assert "Everyone" in page
    assert "B only" not in page
    forged = client.post(limits_url(pages.a_child), {"plan": str(theirs.pk)}, headers=HTMX)
    assert forged.status_code == 422
    assert "Select a valid choice" in forged.content.decode()
    pages.a_child.refresh_from_db()
    assert pages.a_child.plan is None
    assert client.post(limits_url(pages.a_child), {"plan": str(global_plan.pk)}).status_code == 303
    pages.a_child.refresh_from_db()
    assert pages.a_child.plan == global_plan


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rpm": "-1"}, "greater than or equal to 0"),
        ({"limit_messages": "-1"}, "greater than or equal to 0"),
        ({"limit_tokens": "many"}, "Enter a whole number."),
    ],
)
def test_invalid_limits_come_back_as_the_form_with_422(pages, client_for, data, message):
    response = client_for("staff").post(limits_url(pages.partner_a), data, headers=HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert body.strip().startswith('<section id="limits"')
    assert message in body


def test_the_profile_form_no_longer_carries_quotas(pages, client_for):
    body = client_for("staff").get(f"/accounts/{pages.partner_a.public_id}/edit/").content
    assert b'name="limit_messages"' not in body
    assert limits_url(pages.partner_a).encode() in body


def test_a_tenants_quotas_are_set_by_its_parents_admin_and_pushed(db, client, sandbox):
    parent = sandbox.create_parent("Quota Seller")
    partner = make_partner("Quota Seller", upstream_url=sandbox.url, secret=parent.secret)
    shop = onboard_tenant(parent=partner, name="Quota Shop")
    admin = make_user("quota_admin")
    make_member(admin, partner, Role.ADMIN)
    client.force_login(admin)
    response = client.post(
        limits_url(shop), {"limit_messages": "50", "limit_tokens": "0", "rpm": "3"}
    )
    assert response.status_code == 303, response.content
    shop.refresh_from_db()
    assert shop.limits == {"messages": 50, "tokens": 0}
    assert shop.rpm == 3


# -- plans -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("a_owner", 200),
        ("a_admin", 200),
        ("staff", 200),
        ("a_support", 403),
        ("a_viewer", 403),
        ("tenant_user", 404),
        ("b_owner", 404),
        ("outsider", 404),
    ],
)
def test_a_partners_plans_page_by_persona(pages, client_for, plan_a, persona, status):
    client = client_for(persona)
    response = client.get(plans_url(pages.partner_a))
    assert response.status_code == status
    if status == 200:
        assert "Gold" in response.content.decode()
        assert 'name="name"' in response.content.decode()
    created = client.post(plans_url(pages.partner_a), {"name": "Silver", "messages": "10"})
    assert created.status_code == (303 if status == 200 else status)
    assert Plan.objects.filter(name="Silver").exists() is (status == 200)


def test_a_tenant_is_no_partner_for_plans(pages, client_for):
    assert client_for("a_owner").get(plans_url(pages.a_child)).status_code == 404


def test_create_saves_the_limits_and_a_duplicate_name_is_422(pages, client_for, plan_a):
    client = client_for("a_admin")
    client.post(
        plans_url(pages.partner_a),
        {"name": "Silver", "messages": "10", "tokens": "", "conversations": "0", "rpm": "30"},
    )
    silver = Plan.objects.get(partner=pages.partner_a, name="Silver")
    assert (silver.messages, silver.tokens, silver.conversations, silver.rpm) == (10, None, 0, 30)
    again = client.post(plans_url(pages.partner_a), {"name": "Gold"}, headers=HTMX)
    assert again.status_code == 422
    assert "already has a plan" in again.content.decode()
    bad = client.post(plans_url(pages.partner_a), {"name": "X", "rpm": "-2"}, headers=HTMX)
    assert bad.status_code == 422
    assert not Plan.objects.filter(name="X").exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("a_admin", 303),
        ("staff", 303),
        ("a_viewer", 404),
        ("tenant_user", 404),
        ("b_owner", 404),
        ("anonymous", 302),
    ],
)
def test_editing_a_plan_by_persona(pages, client_for, plan_a, persona, status):
    url = f"/plans/{plan_a.pk}/edit/"
    response = client_for(persona).post(
        url, {"name": "Gold+", "messages": "200", "tokens": "", "conversations": "", "rpm": ""}
    )
    assert response.status_code == status
    plan_a.refresh_from_db()
    if status == 303:
        assert (plan_a.name, plan_a.messages, plan_a.rpm) == ("Gold+", 200, None)
        assert AuditEvent.objects.filter(action="plan.updated").exists()
    else:
        assert (plan_a.name, plan_a.messages, plan_a.rpm) == ("Gold", 100, 60)


def test_an_edited_plan_shows_on_its_accounts(pages, client_for, plan_a):
    Account.objects.filter(pk=pages.a_child.pk).update(plan=plan_a)
    client_for("a_admin").post(f"/plans/{plan_a.pk}/edit/", {"name": "Gold", "messages": "300"})
    body = client_for("tenant_user").get(limits_url(pages.a_child)).content.decode()
    assert '>300 <span class="badge">plan</span>' in row(body, "messages")


def test_operators_see_every_plan_and_global_ones_are_not_editable_here(pages, client_for, plan_a):
    Plan.objects.create(partner=pages.partner_b, name="B plan")
    global_plan = Plan.objects.create(partner=None, name="Everyone")
    body = client_for("staff").get("/plans/").content.decode()
    for name in ("Gold", "B plan", "Everyone"):
        assert name in body
    assert client_for("staff").get(f"/plans/{global_plan.pk}/edit/").status_code == 404
    mine = client_for("a_admin").get("/plans/").content.decode()
    assert "Gold" in mine
    assert "B plan" not in mine
    assert "Everyone" not in mine


# -- a token's own rate ---------------------------------------------------------------------


def token_data(**changes: str) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Rated",
        "description": "",
        "scopes": ["*"],
        "extra_scopes": "",
        "bot_ids": "",
        "expires_in_days": "",
    }
    data.update(changes)
    return data


def test_a_new_token_gets_its_own_rate(pages, client_for):
    client = client_for("tenant_user")
    url = f"/accounts/{pages.a_child.public_id}/tokens/new/"
    assert 'name="rpm"' in client.get(url).content.decode()
    assert client.post(url, token_data(rpm="30")).status_code == 200
    token = Token.objects.get(account=pages.a_child, name="Rated")
    assert token.rpm == 30
    assert AuditEvent.objects.filter(action="token.limits_changed").exists()
    client.post(url, token_data(name="Unrated"))
    assert Token.objects.get(account=pages.a_child, name="Unrated").rpm is None


def test_a_bad_token_rate_is_422_and_issues_nothing(pages, client_for):
    url = f"/accounts/{pages.a_child.public_id}/tokens/new/"
    response = client_for("tenant_user").post(url, token_data(rpm="-3"), headers=HTMX)
    assert response.status_code == 422
    assert not Token.objects.filter(name="Rated").exists()
