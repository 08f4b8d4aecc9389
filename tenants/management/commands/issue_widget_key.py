"""``manage.py issue_widget_key --account ID_OR_SLUG --bot BOT_ID --origin ORIGIN [...]``.

Prints only the new widget key on stdout (``KEY=$(manage.py issue_widget_key ...)``); errors
go to stderr with a non-zero exit. The bot is checked upstream as the account first, so a key
never names a bot its account does not own.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.management.accounts import find_account
from tenants.services import AccountError
from tenants.services.widget_keys import issue_widget_key


class Command(BaseCommand):
    help = "Issue a chat widget key for an account's bot and print it (only the key) on stdout."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--account", required=True, help="the account's public id or slug")
        parser.add_argument("--bot", required=True, help="the id of one of the account's bots")
        parser.add_argument(
            "--origin",
            action="append",
            required=True,
            dest="origins",
            help="a site that embeds the widget, e.g. https://shop.example (repeat for more)",
        )
        parser.add_argument("--name", default="", help="a name to recognise the key by")
        parser.add_argument(
            "--rpm", type=int, default=None, help="the key's requests per minute (all visitors)"
        )
        parser.add_argument(
            "--session-rpm", type=int, default=None, help="each visitor's requests per minute"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        account = find_account(options["account"])
        try:
            issued = issue_widget_key(
                account,
                bot_id=options["bot"],
                origins=options["origins"],
                name=options["name"],
                rpm=options["rpm"],
                session_rpm=options["session_rpm"],
                actor=None,
            )
        except AccountError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(issued.plaintext)
