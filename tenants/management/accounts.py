"""What the management commands share: finding the account an operator names."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db.models import Q

from tenants.models import Account


def find_account(id_or_slug: str) -> Account:
    """The account with this public id, else the one account with this slug; a
    ``CommandError`` naming the candidates when the slug is ambiguous."""
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
