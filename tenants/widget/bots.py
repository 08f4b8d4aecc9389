"""The account's bots, for the widget key form's picker: one call through the proxy pipeline.

A person the page checked (``tenants.access``) lists the bots as the account, exactly as a
token with ``bot:list`` would (run as the account's upstream child, metered under
``web:<user id>``), so the picker offers the bots the key will be able to use, and no others.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenants.models import Account
from tenants.proxy.internal import open_call, person_credential

MAX_BOTS = 100  # one upstream page; an account with more types the id


@dataclass(frozen=True, slots=True)
class BotChoice:
    id: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id


class BotsUnavailable(Exception):
    """The bots could not be listed; the message says why, for the page."""


async def list_bots(account: Account, *, user_pk: int) -> list[BotChoice]:
    credential = person_credential(
        account_id=account.pk,
        account_public_id=account.public_id,
        account_path=account.path,
        partner_id=account.partner_pk,
        label=f"web:{user_pk}",
        scopes=("bot:list",),
    )
    async with open_call(
        credential,
        "GET",
        "/bot/list",
        query={"take": str(MAX_BOTS), "order": "asc"},
        accept="application/json",
    ) as answer:
        page = await answer.json()
        if answer.status >= 400:
            problem = page.get("message") if isinstance(page, dict) else None
            raise BotsUnavailable(str(problem or f"the upstream answered {answer.status}"))
    items = page.get("items") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise BotsUnavailable("the upstream's bot list was not understood")
    return [
        BotChoice(id=str(item["id"]), name=str(item.get("name") or ""))
        for item in items
        if isinstance(item, dict) and item.get("id")
    ]
