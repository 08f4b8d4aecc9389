"""The onboarding wizard against the live sandbox upstream: details ─► upstream child ─► invite."""

from __future__ import annotations

import httpx
import pytest

from tenants.credentials import authenticate_sync, clear_local_cache
from tenants.models import Account, AuditEvent, Invitation, Role, Token
from tests.factories import make_member, make_partner, make_user
from tests.pages.conftest import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(sandbox, sandbox_parent):
    """A partner on the sandbox and its owner, logged in."""
    partner = make_partner("Live Partner", upstream_url=sandbox.url, secret=sandbox_parent.secret)
    owner = make_user("live_owner")
    make_member(owner, partner, Role.OWNER)
    return partner, owner


def wizard_data(partner: Account, **changes: str) -> dict[str, str]:
    data = {
        "parent": partner.public_id,
        "name": "Acme Corp",
        "email": "ops@acme.example",
        "timezone": "Europe/Berlin",
        "limit_messages": "1000",
        "limit_tokens": "",
        "limit_conversations": "50",
    }
    data.update(changes)
    return data


def upstream_child(sandbox, parent, public_id: str) -> httpx.Response:
    return httpx.get(
        f"{sandbox.url}/v1/partner/user/{public_id}/fetch",
        headers={"Authorization": f"Bearer {parent.secret}"},
        timeout=10,
    )


def test_the_wizard_creates_the_upstream_child_and_the_tenant_then_asks_for_a_member(
    client, live, sandbox, sandbox_parent, mailoutbox
):
    partner, owner = live
    client.force_login(owner)
    step1 = client.get("/tenants/new/")
    assert step1.status_code == 200
    assert "Live Partner" in step1.content.decode()

    response = client.post("/tenants/new/", wizard_data(partner))
    tenant = Account.objects.get(parent=partner, name="Acme Corp")
    assert response.status_code == 303
    assert response["Location"] == f"/accounts/{tenant.public_id}/onboarded/token/"
    assert (tenant.email, tenant.timezone) == ("ops@acme.example", "Europe/Berlin")
    assert tenant.limits == {"messages": 1000, "conversations": 50}
    child = upstream_child(sandbox, sandbox_parent, tenant.public_id)
    assert child.status_code == 200
    assert child.json()["limits"] == {"messages": 1000, "conversations": 50}

    step3 = client.get(response["Location"]).content.decode()
    assert "Acme Corp is ready" in step3
    assert "Issue its first API token" in step3
    step4 = f"/accounts/{tenant.public_id}/onboarded/"
    assert f'href="{step4}"' in step3  # skippable
    invited = client.post(step4, {"email": "first@acme.example", "role": "owner"}, follow=True)
    assert "An invitation was e-mailed to first@acme.example" in invited.content.decode()
    invitation = Invitation.objects.get(account=tenant)
    assert (invitation.email, invitation.role) == ("first@acme.example", "owner")
    assert AuditEvent.objects.filter(account=tenant, actor=owner).count() == 2


def test_the_wizard_with_htmx_redirects_the_browser_to_step_three(client, live):
    partner, owner = live
    client.force_login(owner)
    response = client.post("/tenants/new/", wizard_data(partner), headers=HTMX)
    tenant = Account.objects.get(parent=partner)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/accounts/{tenant.public_id}/onboarded/token/"


def test_a_sub_tenant_is_onboarded_from_its_parents_page(client, live):
    partner, owner = live
    client.force_login(owner)
    client.post("/tenants/new/", wizard_data(partner))
    reseller = Account.objects.get(parent=partner)
    page = client.get(f"/tenants/new/?parent={reseller.public_id}").content.decode()
    assert f'value="{reseller.public_id}" selected' in page
    client.post("/tenants/new/", wizard_data(reseller, name="Customer", email=""))
    customer = Account.objects.get(name="Customer")
    assert customer.parent == reseller
    assert customer.path == f"{reseller.path}{customer.pk}/"


def test_an_upstream_failure_shows_a_readable_error_and_makes_nothing(
    client, live, sandbox, sandbox_parent
):
    partner, owner = live
    client.force_login(owner)
    accounts, events = Account.objects.count(), AuditEvent.objects.count()
    sandbox.inject_fault("/v1/partner/user/create", "status", status=503)
    try:
        response = client.post("/tenants/new/", wizard_data(partner), headers=HTMX)
    finally:
        sandbox.clear_faults()
    assert response.status_code == 502
    body = response.content.decode()
    host = sandbox.url.removeprefix("http://")
    assert f"The upstream at {host} is unreachable; nothing was changed." in body
    assert body.strip().startswith('<section id="onboard-form"')  # the form, swapped in place
    assert 'value="Acme Corp"' in body  # what was typed is kept for the retry
    assert "Traceback" not in body
    assert (Account.objects.count(), AuditEvent.objects.count()) == (accounts, events)
    listed = httpx.get(
        f"{sandbox.url}/v1/partner/user/list",
        headers={"Authorization": f"Bearer {sandbox_parent.secret}"},
        timeout=10,
    )
    assert listed.json()["items"] == []

    # The same form, sent again once the upstream is back, goes through.
    retry = client.post("/tenants/new/", wizard_data(partner))
    assert retry.status_code == 303
    assert Account.objects.filter(parent=partner).count() == 1


def test_an_unreachable_upstream_shows_its_host_and_makes_nothing(client):
    partner = make_partner("Down Partner")  # its upstream is 127.0.0.1:9: nothing listens
    owner = make_user("down_owner")
    make_member(owner, partner, Role.OWNER)
    client.force_login(owner)
    response = client.post("/tenants/new/", wizard_data(partner))
    assert response.status_code == 502
    body = response.content.decode()
    assert "The upstream at 127.0.0.1:9 is unreachable; nothing was changed." in body
    assert "<html" in body  # without htmx, the whole page with the form in it
    assert not Account.objects.filter(parent=partner).exists()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"email": "nope"}, "Enter a valid email address."),
        ({"limit_tokens": "-5"}, "greater than or equal to 0"),
        ({"timezone": "Nowhere/City"}, "Select a valid choice."),
    ],
)
def test_invalid_wizard_input_is_shown_beside_its_field_and_makes_nothing(client, changes, message):
    partner = make_partner("Offline Partner")
    owner = make_user("offline_owner")
    make_member(owner, partner, Role.OWNER)
    client.force_login(owner)
    response = client.post("/tenants/new/", wizard_data(partner, **changes), headers=HTMX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Account.objects.filter(parent=partner).exists()


def test_a_duplicate_email_under_the_same_parent_is_refused_before_the_upstream(client):
    partner = make_partner("Offline Partner")
    owner = make_user("offline_owner")
    make_member(owner, partner, Role.OWNER)
    Account.objects.create(
        public_id="usr_taken", parent=partner, slug="taken", name="Taken", email="ops@acme.example"
    )
    client.force_login(owner)
    response = client.post("/tenants/new/", wizard_data(partner))
    assert response.status_code == 422
    assert "uses ops@acme.example" in response.content.decode()


def test_a_foreign_parent_in_the_form_is_a_404(client, pages):
    client.force_login(pages.b_owner)
    response = client.post("/tenants/new/", wizard_data(pages.partner_a))
    assert response.status_code == 404
    assert not Account.objects.filter(name="Acme Corp").exists()


def test_someone_with_no_admin_role_anywhere_cannot_open_the_wizard(client, pages):
    client.force_login(pages.a_viewer)
    assert client.get("/tenants/new/").status_code == 403
    client.force_login(pages.outsider)
    assert client.get("/tenants/new/").status_code == 403


def test_the_wizard_offers_only_accounts_the_person_administers(client, pages):
    client.force_login(pages.tenant_user)
    body = client.get("/tenants/new/").content.decode()
    assert "A Child" in body
    assert "Partner A" not in body


# -- step 3: the first token, shown once -----------------------------------------------------


def test_the_token_step_offers_full_access_explained_by_default(client, pages):
    client.force_login(pages.tenant_user)
    body = client.get(f"/accounts/{pages.a_grandchild.public_id}/onboarded/token/").content
    page = body.decode()
    assert 'value="*" checked' in page
    assert "Everything the account can do" in page
    assert 'value="Main API token"' in page
    assert 'aria-current="step">First token, shown once' in page


def test_the_token_step_issues_a_token_shows_it_once_and_leads_to_the_invite_step(
    client, pages, django_capture_on_commit_callbacks
):
    clear_local_cache()
    client.force_login(pages.tenant_user)
    url = f"/accounts/{pages.a_grandchild.public_id}/onboarded/token/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"name": "Main API token", "scopes": "*"}, headers=HTMX)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert body.strip().startswith("<dialog open")
    value = body.split('id="token-value"')[1].split('value="')[1].split('"')[0]
    assert body.count(value) == 1
    assert f'href="/accounts/{pages.a_grandchild.public_id}/onboarded/"' in body
    token = Token.objects.get(account=pages.a_grandchild)
    assert token.scopes == ["*"]
    assert authenticate_sync(value).token_id == token.token_id
    assert value not in client.get(url).content.decode()
    clear_local_cache()


def test_the_token_step_refuses_a_bad_scope_readably(client, pages):
    client.force_login(pages.tenant_user)
    response = client.post(
        f"/accounts/{pages.a_grandchild.public_id}/onboarded/token/",
        {"name": "x", "scopes": "everything"},
    )
    assert response.status_code == 422
    assert "is not a scope: write resource:action" in response.content.decode()
    assert not Token.objects.exists()


def test_the_invite_step_is_step_four(client, pages):
    client.force_login(pages.tenant_user)
    page = client.get(f"/accounts/{pages.a_grandchild.public_id}/onboarded/").content.decode()
    assert 'class="done">First token, shown once' in page
    assert 'aria-current="step">First member' in page
