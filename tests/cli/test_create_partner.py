"""``manage.py create_partner``: only the id on stdout, readable errors, secrets kept quiet."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from tenants import crypto
from tenants.models import Account, AuditEvent
from tests.fixtures.sandbox import REPO_ROOT

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    options = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = StringIO(stdin)
    call_command("create_partner", *args, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def embedded(settings, sandbox):
    """The embedded profile, its sandbox default being the live test sandbox."""
    settings.DATABASE_URL = ""
    settings.SANDBOX_URL = sandbox.url
    return settings


@pytest.fixture
def production(settings):
    settings.DATABASE_URL = "postgres://db.example/portal"
    return settings


def usage_with(url: str, secret: str) -> int:
    response = httpx.get(
        f"{url}/v1/usage/fetch", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    return response.status_code


def test_it_prints_only_the_new_id(sandbox, sandbox_parent):
    out, err = run(
        "--name",
        "Acme Resale",
        "--upstream-url",
        sandbox.url,
        "--upstream-secret",
        sandbox_parent.secret,
        "--email",
        "Ops@Acme.example",
    )
    partner = Account.objects.get(public_id=out.strip())
    assert out == f"{partner.public_id}\n"
    assert err == ""
    assert (partner.name, partner.slug, partner.email) == (
        "Acme Resale",
        "acme-resale",
        "ops@acme.example",
    )
    assert crypto.decrypt(partner.upstream_secret_encrypted) == sandbox_parent.secret
    assert partner.upstream_base_url == sandbox.url


def test_in_the_embedded_profile_it_registers_a_parent_with_the_sandbox(embedded):
    out, _ = run("--name", "Sandboxed", "--slug", "boxed")
    partner = Account.objects.get(public_id=out.strip())
    assert (partner.slug, partner.upstream_base_url) == ("boxed", embedded.SANDBOX_URL)
    secret = crypto.decrypt(partner.upstream_secret_encrypted)
    assert usage_with(embedded.SANDBOX_URL, secret) == 200


def test_the_secret_may_come_from_stdin_or_the_environment(sandbox, sandbox_parent, monkeypatch):
    out, _ = run(
        "--name",
        "From stdin",
        "--upstream-url",
        sandbox.url,
        "--upstream-secret",
        "-",
        stdin=sandbox_parent.secret + "\n",
    )
    stored = Account.objects.get(public_id=out.strip()).upstream_secret_encrypted
    assert crypto.decrypt(stored) == sandbox_parent.secret
    monkeypatch.setenv("UPSTREAM_SECRET", sandbox_parent.secret)
    out, _ = run("--name", "From env", "--upstream-url", sandbox.url)
    stored = Account.objects.get(public_id=out.strip()).upstream_secret_encrypted
    assert crypto.decrypt(stored) == sandbox_parent.secret


def test_outside_the_embedded_profile_url_and_secret_are_required(production, monkeypatch):
    monkeypatch.delenv("UPSTREAM_SECRET", raising=False)
    with pytest.raises(CommandError, match="--upstream-url is required"):
        run("--name", "No URL")
    with pytest.raises(CommandError, match="--upstream-secret is required"):
        run("--name", "No secret", "--upstream-url", "https://api.example.com")
    assert not Account.objects.exists()


def test_a_foreign_url_without_a_secret_is_refused_even_when_embedded(embedded, monkeypatch):
    monkeypatch.delenv("UPSTREAM_SECRET", raising=False)
    with pytest.raises(CommandError, match="--upstream-secret is required"):
        run("--name", "X", "--upstream-url", "https://api.example.com")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--name", "  ", "--upstream-url", "https://u.example", "--upstream-secret", "sk-1"],
            "name",
        ),
        (["--name", "X", "--upstream-url", "ftp://u.example", "--upstream-secret", "sk-1"], "http"),
        (
            [
                "--name",
                "X",
                "--upstream-url",
                "https://u.example",
                "--upstream-secret",
                "sk-1",
                "--email",
                "nope",
            ],
            "e-mail",
        ),
    ],
)
def test_bad_input_is_a_readable_error_and_leaves_no_rows(args, words):
    with pytest.raises(CommandError, match=words):
        run(*args)
    assert not Account.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_taken_slug_is_a_readable_error(sandbox, sandbox_parent):
    args = ["--upstream-url", sandbox.url, "--upstream-secret", sandbox_parent.secret]
    run("--name", "First", "--slug", "same", *args)
    with pytest.raises(CommandError, match="slug 'same' exists"):
        run("--name", "Second", "--slug", "same", *args)
    assert Account.objects.count() == 1


def test_a_sandbox_that_is_not_running_is_a_readable_error(settings, monkeypatch):
    settings.DATABASE_URL = ""
    settings.SANDBOX_URL = "http://127.0.0.1:9"
    monkeypatch.delenv("UPSTREAM_SECRET", raising=False)
    with pytest.raises(CommandError, match="is it running"):
        run("--name", "Nowhere")
    assert not Account.objects.exists()


def test_from_the_shell_errors_go_to_stderr_with_a_non_zero_exit():
    secret = "sk-shell-secret-0000"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_partner",
            "--name",
            "Shell",
            "--upstream-url",
            "ftp://nowhere.example",
            "--upstream-secret",
            secret,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "http(s) URL" in result.stderr
    assert secret not in result.stderr
