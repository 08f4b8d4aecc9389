"""Limits are what a parent sells its child: a tenant cannot raise its own."""

from __future__ import annotations

import json

import pytest

from tenants.models import Account, Role
from tenants.services import AccountError, issue_token, onboard_tenant, update_account
from tests.factories import make_member, make_partner, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(sandbox):
    parent = sandbox.create_parent("Seller")
    partner = make_partner("Seller", upstream_url=sandbox.url, secret=parent.secret)
    reseller = onboard_tenant(parent=partner, name="Reseller")
    shop = onboard_tenant(parent=reseller, name="Shop")
    reseller_admin, shop_admin = make_user("reseller_admin"), make_user("shop_admin")
    make_member(reseller_admin, reseller, Role.ADMIN)
    make_member(shop_admin, shop, Role.OWNER)
    return partner, reseller, shop, reseller_admin, shop_admin


def test_a_tenants_own_admin_cannot_raise_its_limits(tree):
    _, _, shop, _, shop_admin = tree
    with pytest.raises(AccountError) as refused:
        update_account(shop, limits={"messages": 10**9}, actor=shop_admin)
    assert refused.value.code == "NOT_AUTHORIZED"
    shop.refresh_from_db()
    assert shop.limits == {}
    # The rest of its own profile stays theirs to change.
    update_account(shop, name="Shop & Co", actor=shop_admin)


def test_the_admin_of_the_parent_sets_them(tree):
    _, _, shop, reseller_admin, _ = tree
    update_account(shop, limits={"messages": 50}, actor=reseller_admin)
    shop.refresh_from_db()
    assert shop.limits == {"messages": 50}


def test_the_reseller_cannot_raise_its_own_either_only_the_partner_can(tree):
    partner, reseller, _, reseller_admin, _ = tree
    with pytest.raises(AccountError):
        update_account(reseller, limits={"messages": 10**9}, actor=reseller_admin)
    partner_admin = make_user("partner_admin")
    make_member(partner_admin, partner, Role.ADMIN)
    update_account(reseller, limits={"messages": 500}, actor=partner_admin)
    assert Account.objects.get(pk=reseller.pk).limits == {"messages": 500}


def test_a_partners_limits_are_set_by_operators_only(tree):
    partner = tree[0]
    owner = make_user("partner_owner")
    make_member(owner, partner, Role.OWNER)
    with pytest.raises(AccountError):
        update_account(partner, limits={"messages": 1}, actor=owner)
    update_account(partner, limits={"messages": 1}, actor=make_user("op", staff=True))


def test_the_profile_page_refuses_it_readably(client, tree):
    _, _, shop, _, shop_admin = tree
    client.force_login(shop_admin)
    # Limits are on their own page; the shop's admin reads them there and a forced POST is
    # refused with the reason.
    page = client.get(f"/accounts/{shop.public_id}/limits/")
    assert page.status_code == 200
    assert "may change the limits" in page.content.decode()
    assert 'name="limit_messages"' not in page.content.decode()
    response = client.post(
        f"/accounts/{shop.public_id}/limits/",
        {"plan": "", "rpm": "", "limit_messages": "999999"},
    )
    assert response.status_code == 403
    assert "may change the limits" in response.content.decode()
    assert Account.objects.get(pk=shop.pk).limits == {}


def test_a_token_cannot_raise_its_own_accounts_limits_on_the_management_api(client, tree):
    _, reseller, shop, _, _ = tree
    own = issue_token(shop, name="own", scopes=["*"], actor=None).plaintext
    above = issue_token(reseller, name="above", scopes=["*"], actor=None).plaintext
    body = json.dumps({"limits": {"messages": 10**9}})
    path = f"/api/v1/portal/accounts/{shop.public_id}/"
    refused = client.patch(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {own}"
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "NOT_AUTHORIZED"
    allowed = client.patch(
        path,
        json.dumps({"limits": {"messages": 70}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {above}",
    )
    assert allowed.status_code == 200, allowed.content
    assert Account.objects.get(pk=shop.pk).limits == {"messages": 70}
