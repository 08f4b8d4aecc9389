"""The upstream side of account services: the child user of each tenant (UPSTREAM.md §3).

Every call runs through ``call_upstream``, which turns the client's failures into an
``AccountError`` that says what could not be done and why, for the person who asked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from portal.upstream import (
    UpstreamClient,
    UpstreamConnection,
    UpstreamError,
    UpstreamHTTPError,
    run_sync,
)
from tenants.models import Account
from tenants.services.errors import AccountError

# The keys of the upstream's own `limits` object (UPSTREAM.md §5): only these are pushed to the
# upstream child as a backstop; other keys are portal limits, enforced by the portal alone.
UPSTREAM_LIMIT_KEYS = ("tokens", "conversations", "messages", "database", "file", "attachment")


def partner_of(account: Account) -> Account:
    return account if account.is_partner else Account.objects.get(pk=account.partner_pk)


def call_upstream[T](what: str, call: Callable[[UpstreamClient], Awaitable[T]]) -> T:
    """Run an upstream call; a failure becomes an ``AccountError`` that says why."""
    try:
        return run_sync(call)
    except UpstreamHTTPError as exc:
        code = "CONFLICT" if exc.status == 409 else exc.code
        raise AccountError(f"The upstream refused to {what}: {exc.message}", code) from exc
    except UpstreamError as exc:
        raise AccountError(f"Could not {what}: {exc.message}. Try again.", exc.code) from exc


def child_fields(
    *,
    name: str | None = None,
    email: str | None = None,
    description: str | None = None,
    image: str | None = None,
    meta: Any = None,
    limits: Any = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if image is not None:
        body["image"] = image
    if email is not None:
        body["email"] = email  # "" clears it upstream
    if meta is not None:
        body["meta"] = meta
    if limits is not None:
        body["limits"] = {key: item for key, item in limits.items() if key in UPSTREAM_LIMIT_KEYS}
    return body


def portal_ref(parent: Account, slug: str) -> str:
    # Stored in the upstream child's meta: the key that makes onboarding retry-safe (a second
    # attempt lists the partner's children by it and finds the first attempt's child).
    return f"{parent.public_id}/{slug}"


def find_or_create_child(
    connection: UpstreamConnection, *, ref: str, fields: dict[str, Any]
) -> Callable[[UpstreamClient], Awaitable[str]]:
    async def call(client: UpstreamClient) -> str:
        page = await client.request_json(
            connection, "GET", "/v1/partner/user/list", params={"meta.portalRef": ref, "take": 1}
        )
        if page.get("items"):
            return str(page["items"][0]["id"])
        body = {**fields, "meta": {**fields.get("meta", {}), "portalRef": ref}}
        created = await client.request_json(
            connection, "POST", "/v1/partner/user/create", json=body, idempotent=False
        )
        return str(created["id"])

    return call


def push_to_child(account: Account, body: dict[str, Any]) -> None:
    connection = partner_of(account).upstream_connection()
    path = f"/v1/partner/user/{account.public_id}/update"
    call_upstream(
        "update the tenant's upstream account",
        lambda client: client.request_json(connection, "POST", path, json=body, idempotent=True),
    )


def delete_child(account: Account, connection: UpstreamConnection) -> None:
    async def call(client: UpstreamClient) -> None:
        try:
            await client.request_json(
                connection,
                "POST",
                f"/v1/partner/user/{account.public_id}/delete",
                json={},
                idempotent=True,
            )
        except UpstreamHTTPError as exc:
            if exc.status != 404:  # already gone: a retry after a partial close
                raise

    call_upstream(f"delete the upstream account of {account.name}", call)
