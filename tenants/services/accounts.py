"""Accounts: partners, onboarding tenants, their profile, status, closing, the upstream secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone as dj_timezone
from django.utils.text import slugify

from portal.upstream import UpstreamClient, UpstreamConnection
from tenants import audit
from tenants.audit import RequestContext
from tenants.models import Account
from tenants.services.authority import check_may_set_limits
from tenants.services.errors import (
    AccountError,
    clean_email,
    clean_image,
    clean_limits,
    clean_meta,
    clean_name,
    clean_timezone,
    merge_meta,
    require_open,
)
from tenants.services.upstream import (
    call_upstream,
    child_fields,
    delete_child,
    find_or_create_child,
    partner_of,
    portal_ref,
    push_to_child,
)

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from tenants.audit import Actor

EDITABLE_FIELDS = ("name", "email", "description", "image", "timezone", "meta", "limits")


def _unique_slug(name: str, siblings: QuerySet[Account]) -> str:
    base = slugify(name)[:56] or "account"
    slug, n = base, 1
    while siblings.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _check_email_free(
    parent: Account | None, email: str, *, exclude: Account | None = None
) -> None:
    if not email or parent is None:
        return
    siblings = parent.children.exclude(status=Account.Status.CLOSED).filter(email__iexact=email)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    if siblings.exists():
        raise AccountError(f"Another account under {parent.name} uses {email}.", "CONFLICT")


def _forget_in_proxy_on_commit(account: Account) -> None:
    """Drop the proxy's cached copy of the account's subtree once the change is committed.

    The proxy reads account status and upstream credentials from caches (no database on its
    hot path); this process and the shared cache forget at once, other workers' memory within
    ``PROXY_ACCOUNT_CACHE_SECONDS``.
    """
    from tenants.proxy import forget_account

    transaction.on_commit(lambda: forget_account(account))


# -- services ----------------------------------------------------------------------------------


def create_partner(
    *,
    name: str,
    upstream_base_url: str,
    upstream_secret: str,
    slug: str = "",
    email: str = "",
    actor: Actor = None,
    context: RequestContext | None = None,
) -> Account:
    """A partner: a root account holding the upstream connection (secret encrypted at rest)."""
    name = clean_name(name)
    email = clean_email(email)
    base_url = upstream_base_url.strip().rstrip("/")
    try:
        UpstreamConnection(base_url=base_url, secret=upstream_secret)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    with transaction.atomic():
        partner = Account(
            name=name,
            slug=slugify(slug)[:64] if slug else _unique_slug(name, Account.objects.partners()),
            email=email,
            upstream_base_url=base_url,
        )
        partner.set_upstream_secret(upstream_secret)
        try:
            with transaction.atomic():
                partner.save()
        except IntegrityError:
            message = f"A partner with the slug {partner.slug!r} exists."
            raise AccountError(message, "CONFLICT") from None
        partner.path = f"/{partner.pk}/"
        partner.save(update_fields=["path"])
        audit.record(
            "account.created",
            actor=actor,
            account=partner,
            changes={
                "name": name,
                "slug": partner.slug,
                "email": email,
                "upstream_base_url": base_url,
                "upstream_credential": partner.upstream_secret_display,
            },
            context=context,
        )
    return partner


def onboard_tenant(
    *,
    parent: Account,
    name: str,
    email: str = "",
    slug: str = "",
    description: str = "",
    image: str = "",
    timezone: str = "UTC",
    meta: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    actor: Actor = None,
    context: RequestContext | None = None,
) -> Account:
    """A tenant under ``parent`` (a partner or another tenant), linked to a new upstream child.

    The upstream child is made first and found again by ``meta.portalRef`` on a retry; a
    failure there raises ``AccountError`` and leaves no local row.
    """
    if parent.status != Account.Status.ACTIVE:
        raise AccountError(f"{parent.name} is {parent.get_status_display().lower()}.", "CONFLICT")
    name = clean_name(name)
    email = clean_email(email)
    description = description.strip()
    image = clean_image(image)
    timezone = clean_timezone(timezone)
    meta_value = clean_meta(dict(meta or {}))
    limits_value = clean_limits(dict(limits or {}))
    _check_email_free(parent, email)
    slug = slugify(slug)[:64] if slug else _unique_slug(name, parent.children.all())
    if not slug:
        raise AccountError("The slug must contain letters or digits.")
    if parent.children.filter(slug=slug).exists():
        raise AccountError(f"{parent.name} already has a tenant {slug!r}.", "CONFLICT")

    fields = child_fields(
        name=name,
        email=email or None,
        description=description or None,
        image=image or None,
        meta=meta_value,
        limits=limits_value or None,
    )
    upstream_id = call_upstream(
        "create the tenant's upstream account",
        find_or_create_child(
            partner_of(parent).upstream_connection(), ref=portal_ref(parent, slug), fields=fields
        ),
    )
    with transaction.atomic():
        if Account.objects.filter(public_id=upstream_id).exists():
            raise AccountError(f"The upstream account {upstream_id} is already linked.", "CONFLICT")
        tenant = Account(
            public_id=upstream_id,
            parent=parent,
            slug=slug,
            name=name,
            email=email,
            description=description,
            image=image,
            timezone=timezone,
            meta=meta_value,
            limits=limits_value,
        )
        try:
            with transaction.atomic():
                tenant.save()
        except IntegrityError:
            # A concurrent onboarding took the slug between our check and this insert.
            message = f"{parent.name} already has a tenant {slug!r}."
            raise AccountError(message, "CONFLICT") from None
        tenant.path = f"{parent.path}{tenant.pk}/"
        tenant.save(update_fields=["path"])
        audit.record(
            "account.onboarded",
            actor=actor,
            account=tenant,
            changes={
                "parent": parent.public_id,
                **audit.diff({}, audit.snapshot(tenant, ("slug", *EDITABLE_FIELDS))),
            },
            context=context,
        )
    return tenant


def update_account(
    account: Account,
    *,
    actor: Actor,
    name: str | None = None,
    email: str | None = None,
    description: str | None = None,
    image: str | None = None,
    timezone: str | None = None,
    meta: Mapping[str, Any] | None = None,
    limits: Mapping[str, Any] | None = None,
    context: RequestContext | None = None,
) -> Account:
    """Change the profile; ``meta`` merges (a null value removes a key), ``limits`` replaces.

    A tenant's name, e-mail, meta and limits are pushed to its upstream child first, so the
    upstream enforces the same limits as a backstop.
    """
    require_open(account)
    before = audit.snapshot(account, EDITABLE_FIELDS)
    after = dict(before)
    meta_patch: dict[str, Any] | None = None
    if name is not None:
        after["name"] = clean_name(name)
    if email is not None:
        after["email"] = clean_email(email)
        if after["email"] != before["email"]:
            _check_email_free(account.parent, after["email"], exclude=account)
    if description is not None:
        after["description"] = description.strip()
    if image is not None:
        after["image"] = clean_image(image)
    if timezone is not None:
        after["timezone"] = clean_timezone(timezone)
    if meta is not None:
        meta_patch = clean_meta(dict(meta))
        after["meta"] = merge_meta(account.meta, meta_patch)
    if limits is not None:
        after["limits"] = clean_limits(dict(limits))
    changes = audit.diff(before, after)
    if not changes:
        return account
    if "limits" in changes:
        check_may_set_limits(actor, account)

    if not account.is_partner:
        body = child_fields(
            name=after["name"] if "name" in changes else None,
            email=after["email"] if "email" in changes else None,
            description=after["description"] if "description" in changes else None,
            image=after["image"] if "image" in changes else None,
            meta=meta_patch if "meta" in changes else None,
            limits=after["limits"] if "limits" in changes else None,
        )
        if body:
            push_to_child(account, body)

    with transaction.atomic():
        for field in changes:
            setattr(account, field, after[field])
        account.save(update_fields=[*changes, "updated_at"])
        audit.record(
            "account.updated", actor=actor, account=account, changes=changes, context=context
        )
        # The proxy caches the name, time zone and limits of every level (tenants.limits).
        _forget_in_proxy_on_commit(account)
    return account


def _set_status(
    account: Account,
    status: Account.Status,
    action: str,
    *,
    actor: Actor,
    context: RequestContext | None,
    reason: str = "",
) -> Account:
    with transaction.atomic():
        # Lock the row: a suspend and a reactivate at the same moment must not interleave.
        locked = Account.objects.select_for_update().get(pk=account.pk)
        require_open(locked)
        if locked.status != status:
            changes: dict[str, Any] = {"status": {"before": locked.status, "after": status}}
            if reason:
                changes["reason"] = reason
            locked.status = status
            locked.save(update_fields=["status", "updated_at"])
            audit.record(action, actor=actor, account=locked, changes=changes, context=context)
            _forget_in_proxy_on_commit(locked)
    account.status, account.updated_at = locked.status, locked.updated_at
    return account


def suspend_account(
    account: Account, *, actor: Actor, reason: str = "", context: RequestContext | None = None
) -> Account:
    """Stop the account's traffic; the proxy refuses a suspended account and its descendants."""
    return _set_status(
        account,
        Account.Status.SUSPENDED,
        "account.suspended",
        actor=actor,
        context=context,
        reason=reason.strip()[:500],
    )


def reactivate_account(
    account: Account, *, actor: Actor, context: RequestContext | None = None
) -> Account:
    return _set_status(
        account, Account.Status.ACTIVE, "account.reactivated", actor=actor, context=context
    )


def close_account(
    account: Account, *, confirmation: str, actor: Actor, context: RequestContext | None = None
) -> Account:
    """Close the account and its whole subtree, for good.

    Needs ``confirmation`` equal to the account's slug. Each tenant's upstream child is deleted
    (which cascades upstream: bots, conversations, tokens), deepest first; the local records
    stay, closed, with their history. A child already gone upstream counts as deleted, so when
    the upstream fails half-way the accounts done so far are closed and a retry does the rest.
    """
    if confirmation.strip() != account.slug:
        raise AccountError(f"Type {account.slug} to confirm closing {account.name}.")
    require_open(account)
    subtree = list(Account.objects.subtree_of(account).exclude(status=Account.Status.CLOSED))
    subtree.sort(key=lambda item: (-item.depth, item.pk))  # children before their parents
    connection = partner_of(account).upstream_connection()
    closed: list[Account] = []
    failure: AccountError | None = None
    for item in subtree:
        if not item.is_partner:
            try:
                delete_child(item, connection)
            except AccountError as exc:
                failure = exc
                break
        closed.append(item)

    now = dj_timezone.now()
    with transaction.atomic():
        for item in closed:
            changes: dict[str, Any] = {"status": {"before": item.status, "after": "closed"}}
            if item.pk != account.pk:
                changes["closed_with"] = account.public_id
            item.status, item.closed_at = Account.Status.CLOSED, now
            item.save(update_fields=["status", "closed_at", "updated_at"])
            audit.record(
                "account.closed", actor=actor, account=item, changes=changes, context=context
            )
        _forget_in_proxy_on_commit(account)
    if failure is not None:
        raise AccountError(
            f"{failure.message} {len(closed)} of {len(subtree)} accounts were closed; "
            "closing again finishes the rest.",
            failure.code,
        )
    account.status, account.closed_at = Account.Status.CLOSED, now
    return account


def rotate_upstream_secret(
    partner: Account, *, new_secret: str, actor: Actor, context: RequestContext | None = None
) -> Account:
    """Replace the partner's upstream secret once the upstream accepts it.

    The new secret must authenticate and, when the partner has tenants, belong to the same
    upstream parent: it must be able to fetch one of the partner's existing children.
    """
    if not partner.is_partner:
        raise AccountError("Only a partner holds an upstream secret.")
    require_open(partner)
    new_secret = new_secret.strip()
    try:
        connection = UpstreamConnection(base_url=partner.upstream_base_url, secret=new_secret)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    child = (
        Account.objects.subtree_of(partner)
        .exclude(pk=partner.pk)
        .exclude(status=Account.Status.CLOSED)
        .order_by("pk")
        .first()
    )

    async def verify(client: UpstreamClient) -> None:
        await client.request_json(connection, "GET", "/v1/usage/fetch")
        if child is not None:
            await client.request_json(
                connection, "GET", f"/v1/partner/user/{child.public_id}/fetch"
            )

    call_upstream("accept the new secret", verify)
    with transaction.atomic():
        before = partner.upstream_secret_display
        partner.set_upstream_secret(new_secret)
        partner.save(
            update_fields=["upstream_secret_encrypted", "upstream_secret_last4", "updated_at"]
        )
        audit.record(
            "account.upstream_secret_rotated",
            actor=actor,
            account=partner,
            changes={
                "upstream_credential": {"before": before, "after": partner.upstream_secret_display}
            },
            context=context,
        )
        _forget_in_proxy_on_commit(partner)
    return partner
