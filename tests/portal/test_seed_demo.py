from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings

from tenants import crypto
from tenants.models import Account

pytestmark = pytest.mark.django_db


def _seed(sandbox) -> str:
    out = io.StringIO()
    with override_settings(SANDBOX_URL=sandbox.url):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def _children_upstream(sandbox, secret: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sandbox.url}/v1/partner/user/list", headers={"Authorization": f"Bearer {secret}"}
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_it_creates_the_demo_partner_its_tenants_and_a_login_linked_to_the_sandbox(sandbox):
    output = _seed(sandbox)

    demo = Account.objects.partners().get(slug="demo")
    tenants = Account.objects.subtree_of(demo).exclude(pk=demo.pk)
    assert sorted(t.name for t in tenants) == ["Acme Corp", "Acme Labs", "Globex"]
    assert tenants.get(name="Acme Labs").parent == tenants.get(name="Acme Corp")
    secret = crypto.decrypt(demo.upstream_secret_encrypted)
    upstream_ids = {child["id"] for child in _children_upstream(sandbox, secret)}
    assert upstream_ids == {t.public_id for t in tenants}
    admin = User.objects.get(username="admin")
    assert admin.is_staff
    assert admin.is_superuser
    assert "Log in at" in output
    assert "admin /" in output
    assert demo.brand.product_name == "Demo Cloud"
    assert list(demo.brand.hosts.values_list("host", flat=True)) == ["demo.localhost"]
    assert "http://demo.localhost:" in output


def test_running_it_again_changes_nothing(sandbox):
    _seed(sandbox)
    before = list(Account.objects.order_by("pk").values_list("pk", "public_id"))
    output = _seed(sandbox)
    assert list(Account.objects.order_by("pk").values_list("pk", "public_id")) == before
    assert "Created" not in output
    assert "Re-registered" not in output


def test_it_re_registers_the_demo_with_a_sandbox_that_lost_its_state(sandbox):
    _seed(sandbox)
    demo = Account.objects.partners().get(slug="demo")
    secret = crypto.decrypt(demo.upstream_secret_encrypted)
    tenant_ids = set(
        Account.objects.subtree_of(demo).exclude(pk=demo.pk).values_list("public_id", flat=True)
    )
    sandbox.reset()  # what deleting var/sandbox-state.json does to a restarted sandbox
    try:
        output = _seed(sandbox)
        assert "Re-registered the demo partner and 3 tenants" in output
        assert {child["id"] for child in _children_upstream(sandbox, secret)} == tenant_ids
    finally:
        sandbox.reset()
