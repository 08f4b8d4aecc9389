"""manage.py issue_token prints the token and nothing else."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants.credentials import authenticate_sync
from tenants.models import Token
from tests.factories import make_partner, make_tenant

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("issue_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_only_a_working_token(tenant):
    out, err = run(
        "--account", tenant.public_id, "--scope", "conversation:*", "--scope", "bot:list"
    )
    raw = out.strip()
    assert out == raw + "\n"
    assert err == ""
    record = authenticate_sync(raw)
    assert record.account_id == tenant.pk
    assert record.scopes == ("conversation:*", "bot:list")


def test_it_finds_the_account_by_slug_and_sets_name_and_expiry(partner):
    tenant = make_tenant(partner, slug="acme")
    out, _ = run("--account", "acme", "--scope", "*", "--name", "Deploy", "--expires-in", "3600")
    token = Token.objects.get(account=tenant)
    assert token.name == "Deploy"
    assert token.expires_at is not None
    assert out.strip().endswith(token.last4)


def test_an_ambiguous_slug_is_refused_with_the_ids_to_choose_from():
    make_tenant(make_partner(), slug="twin")
    make_tenant(make_partner(), slug="twin")
    with pytest.raises(CommandError, match="Several accounts"):
        run("--account", "twin", "--scope", "*")


def test_unknown_accounts_and_scopes_are_errors(tenant):
    with pytest.raises(CommandError, match="No account"):
        run("--account", "nope", "--scope", "*")
    with pytest.raises(CommandError, match="no resource 'bots'"):
        run("--account", tenant.public_id, "--scope", "bots:list")
    assert not Token.objects.exists()


def test_as_a_process_errors_go_to_stderr_with_a_nonzero_exit(tenant, transactional_db):
    import subprocess
    import sys

    from tests.processes import env_for_test_database

    ok = subprocess.run(
        [sys.executable, "manage.py", "issue_token", "--account", tenant.public_id, "--scope", "*"],
        env=env_for_test_database(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert authenticate_sync(ok.stdout.strip()).account_id == tenant.pk
    assert ok.stdout.strip().count("\n") == 0
    bad = subprocess.run(
        [sys.executable, "manage.py", "issue_token", "--account", "nope", "--scope", "*"],
        env=env_for_test_database(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert "No account" in bad.stderr
