"""``manage.py create_partner --name N [--upstream-url U --upstream-secret S]``: prints the id.

Only the new partner's public id goes to stdout, so scripts can capture it; errors go to
stderr with a non-zero exit. The secret can come from ``--upstream-secret``, from
``--upstream-secret -`` (read from stdin) or from ``UPSTREAM_SECRET``, so it need not be typed
into the shell's history.

In the embedded profile (no ``DATABASE_URL``) the upstream defaults to the bundled sandbox, and
without a secret a new parent is registered there. Elsewhere both are required.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.upstream import UpstreamError
from portal.upstream.sandbox import SandboxControl
from tenants.services import AccountError, create_partner

ENV_VARIABLE = "UPSTREAM_SECRET"


def embedded_profile() -> bool:
    return not settings.DATABASE_URL


class Command(BaseCommand):
    help = "Create a partner (a root account holding an upstream connection); prints its id."
    # call_command(..., stdin=StringIO(...)) for tests of "--upstream-secret -".
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="The partner's name.")
        parser.add_argument(
            "--upstream-url",
            default="",
            help="The upstream's base URL (default in the embedded profile: the sandbox).",
        )
        parser.add_argument(
            "--upstream-secret",
            default="",
            help=f"The parent secret; '-' reads it from stdin; default: ${ENV_VARIABLE}.",
        )
        parser.add_argument("--slug", default="", help="Default: from the name.")
        parser.add_argument("--email", default="", help="The partner's contact e-mail.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["upstream_url"].strip()
        secret = self._secret(options["upstream_secret"], options.get("stdin") or sys.stdin)
        if not url:
            if not embedded_profile():
                raise CommandError("--upstream-url is required (DATABASE_URL is set).")
            url = settings.SANDBOX_URL
        if not secret:
            if not (embedded_profile() and url.rstrip("/") == settings.SANDBOX_URL.rstrip("/")):
                raise CommandError(
                    f"--upstream-secret is required (or {ENV_VARIABLE}, or '-' to read stdin)."
                )
            secret = self._register_with_sandbox(options["name"])
        try:
            partner = create_partner(
                name=options["name"],
                upstream_base_url=url,
                upstream_secret=secret,
                slug=options["slug"],
                email=options["email"],
            )
        except AccountError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(partner.public_id)

    def _secret(self, given: str, stdin: TextIO) -> str:
        if given == "-":
            return stdin.readline().strip()
        return given.strip() or os.environ.get(ENV_VARIABLE, "").strip()

    def _register_with_sandbox(self, name: str) -> str:
        try:
            return SandboxControl(settings.SANDBOX_URL).create_parent(name=name)["secret"]
        except UpstreamError as exc:
            raise CommandError(
                f"Could not register a parent with the sandbox at {settings.SANDBOX_URL}: "
                f"{exc.message} (is it running? `make run` starts it)."
            ) from None
