"""``manage.py issue_token --account ID_OR_SLUG --scope SCOPE [...]``: print one new token.

Only the token goes to stdout, so scripts can capture it (``TOKEN=$(manage.py issue_token
...)``); errors go to stderr with a non-zero exit. The audit log records the operator's CLI as
the system actor.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from tenants.models import Account
from tenants.services import AccountError, issue_token


def _find_account(id_or_slug: str) -> Account:
    matches = list(Account.objects.filter(Q(public_id=id_or_slug) | Q(slug=id_or_slug))[:20])
    by_id = [account for account in matches if account.public_id == id_or_slug]
    if by_id:
        return by_id[0]
    if not matches:
        raise CommandError(f"No account has the id or slug {id_or_slug!r}.")
    if len(matches) > 1:
        found = ", ".join(f"{account.public_id} ({account.name})" for account in matches)
        raise CommandError(f"Several accounts have the slug {id_or_slug!r}: {found}. Use the id.")
    return matches[0]


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
        account = _find_account(options["account"])
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
