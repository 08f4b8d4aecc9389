"""``manage.py onboard_tenant --partner P --name N --email E [--parent ID_OR_SLUG]``.

Creates the tenant's upstream child and the local account through ``onboard_tenant`` (the
service the pages and the API call) and prints only the new public id, for scripts. The
operator at the shell acts as the system: no person's role is checked, but the parent must be
in the named partner's tree.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.db.models.functions import Length

from tenants.models import Account
from tenants.services import AccountError, onboard_tenant


class Command(BaseCommand):
    help = "Onboard a tenant under a partner (or one of its tenants); prints its public id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", required=True, help="The partner's slug or public id.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--email", required=True, help="Unique among the parent's tenants.")
        parser.add_argument(
            "--parent", default="", help="A tenant of the partner to onboard under (id or slug)."
        )
        parser.add_argument("--slug", default="")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args: Any, **options: Any) -> None:
        partner = self._find(Account.objects.partners(), options["partner"], "partner")
        parent = partner
        if options["parent"]:
            tree = Account.objects.subtree_of(partner)
            parent = self._find(tree, options["parent"], f"account in {partner.name}'s tree")
        try:
            tenant = onboard_tenant(
                parent=parent,
                name=options["name"],
                email=options["email"],
                slug=options["slug"],
                timezone=options["timezone"],
            )
        except AccountError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(tenant.public_id)

    @staticmethod
    def _find(candidates: Any, reference: str, what: str) -> Account:
        reference = reference.strip()
        match = candidates.filter(Q(public_id=reference) | Q(slug=reference))
        # A public id is unique; a slug only among siblings, so the shallowest wins.
        found: Account | None = (
            match.filter(public_id=reference).first()
            or match.order_by(Length("path"), "pk").first()
        )
        if found is None:
            raise CommandError(f"No {what} {reference!r}.")
        return found
