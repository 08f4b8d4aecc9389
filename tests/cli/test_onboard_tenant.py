"""``manage.py onboard_tenant``: a tenant through the service, only its id on stdout."""

from __future__ import annotations

import re
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from tenants.models import Account
from tests.factories import make_partner

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("onboard_tenant", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert out.getvalue().count("\n") == 1  # one line: the id
    return out.getvalue().strip()


@pytest.fixture
def partner(sandbox, sandbox_parent):
    return make_partner("CLI Partner", upstream_url=sandbox.url, secret=sandbox_parent.secret)


def fetch_upstream(sandbox, sandbox_parent, public_id: str) -> httpx.Response:
    return httpx.get(
        f"{sandbox.url}/v1/partner/user/{public_id}/fetch",
        headers={"Authorization": f"Bearer {sandbox_parent.secret}"},
        timeout=10,
    )


def test_it_onboards_under_the_partner_and_prints_only_the_id(sandbox, sandbox_parent, partner):
    out = run("--partner", partner.slug, "--name", "Acme", "--email", "ops@acme.example")
    tenant = Account.objects.get(public_id=out)
    assert (tenant.parent, tenant.email) == (partner, "ops@acme.example")
    assert fetch_upstream(sandbox, sandbox_parent, out).json()["name"] == "Acme"


def parent_of(public_id: str) -> str:
    return str(Account.objects.values_list("parent__public_id", flat=True).get(public_id=public_id))


def test_it_onboards_under_a_tenant_named_by_slug_or_id(partner):
    first = run("--partner", partner.public_id, "--name", "Reseller", "--email", "r@x.example")
    second = run(
        "--partner",
        partner.slug,
        "--parent",
        "reseller",
        "--name",
        "Customer",
        "--email",
        "c@x.example",
    )
    third = run(
        "--partner", partner.slug, "--parent", second, "--name", "Deeper", "--email", "d@x.example"
    )
    assert parent_of(second) == first
    assert parent_of(third) == second


def test_a_parent_of_another_partner_is_not_found(partner):
    other = make_partner("Other")
    foreign = Account.objects.create(
        public_id="usr_foreign", parent=other, slug="foreign", name="Foreign", path=""
    )
    with pytest.raises(CommandError, match="No account"):
        run(
            "--partner",
            partner.slug,
            "--parent",
            foreign.public_id,
            "--name",
            "X",
            "--email",
            "x@x.example",
        )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--partner", "nobody", "--name", "X", "--email", "x@x.example"], "No partner 'nobody'"),
        (["--partner", "{p}", "--name", " ", "--email", "x@x.example"], "name"),
        (["--partner", "{p}", "--name", "X", "--email", "nope"], "e-mail"),
        (
            ["--partner", "{p}", "--name", "X", "--email", "x@x.example", "--timezone", "Mars/X"],
            "time zone",
        ),
    ],
)
def test_bad_input_is_a_readable_error_and_leaves_no_rows(partner, args, words):
    before = Account.objects.count()
    with pytest.raises(CommandError, match=words):
        run(*[arg.replace("{p}", partner.slug) for arg in args])
    assert Account.objects.count() == before


def test_an_upstream_failure_is_a_readable_error_and_leaves_no_rows(sandbox, partner):
    sandbox.inject_fault(
        "/v1/partner/user/create", "status", status=503, code="SERVICE_UNAVAILABLE"
    )
    try:
        with pytest.raises(CommandError, match="create the tenant's upstream account"):
            run("--partner", partner.slug, "--name", "Unlucky", "--email", "u@x.example")
    finally:
        sandbox.clear_faults()
    assert not Account.objects.filter(parent=partner).exists()


def test_a_duplicate_email_is_a_readable_error(partner):
    run("--partner", partner.slug, "--name", "One", "--email", "same@x.example")
    with pytest.raises(CommandError, match=re.escape("uses same@x.example")):
        run("--partner", partner.slug, "--name", "Two", "--email", "same@x.example")
