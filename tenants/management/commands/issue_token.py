"""``manage.py issue_token --account ID_OR_SLUG --scope SCOPE [...]``: print one new token.

Only the token goes to stdout, so scripts can capture it (``TOKEN=$(manage.py issue_token
...)``); errors go to stderr with a non-zero exit. The audit log records the operator's CLI as
the system actor.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.management.accounts import find_account
from tenants.services import AccountError, issue_token


class Command(BaseCommand):
    help = "Issue an API token for an account and print it (only the token) on stdout."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--account", required=True, help="the account's public id or slug")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            dest="scopes",
            help="a scope such as conversation:* or * (repeat for more)",
        )
        parser.add_argument("--name", default="", help="a name to recognise the token by")
        parser.add_argument(
            "--expires-in", type=int, default=None, help="seconds until it expires (default never)"
        )
        parser.add_argument(
            "--bot", action="append", dest="bot_ids", default=None, help="limit to a bot id"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = find_account(options["account"])
        try:
            issued = issue_token(
                account,
                name=options["name"] or "CLI token",
                scopes=options["scopes"],
                bot_ids=options["bot_ids"],
                expires_in=options["expires_in"],
                actor=None,
            )
        except AccountError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(issued.plaintext)
