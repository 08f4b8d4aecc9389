"""Seeding for bench/usage_scale.py: a partner with N tenants and M raw usage events."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

DAYS = 45
EVENT_BATCH = 5_000
RESELLERS_SHARE = 50  # one reseller (direct child of the partner) per this many tenants
LIMITED_SHARE = 0.20  # tenants with their own period quotas


@dataclass
class World:
    partner: Any
    reseller: Any  # a direct child of the partner, with children
    leaf: Any  # a tenant below the reseller
    operator: Any
    partner_admin: Any
    limited: int
    account_pks: list[int]


def seed_accounts(tenants: int, rng: random.Random) -> World:
    from django.contrib.auth.models import User
    from django.db import connection

    from tenants.models import Account, Membership, Role
    from tenants.services import create_partner

    partner = create_partner(
        name="Bench Partner",
        upstream_base_url="http://127.0.0.1:9",
        upstream_secret="sk-" + "0" * 32,
    )
    resellers = max(1, tenants // RESELLERS_SHARE)
    base = (Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    rows: list[Account] = []
    limited = 0
    for index in range(tenants):
        pk = base + index
        if index < resellers:
            parent_pk, path = partner.pk, f"{partner.path}{pk}/"
        else:
            parent_pk = base + (index % resellers)
            path = f"{partner.path}{parent_pk}/{pk}/"
        limits: dict[str, int] = {}
        if rng.random() < LIMITED_SHARE:
            limited += 1
            # Small enough that a good share of the limited tenants is near or over its quota.
            limits = {"messages": rng.choice((50, 200, 1_000, 10_000)), "tokens": 200_000}
        rows.append(
            Account(
                pk=pk,
                public_id=f"usr_bench{index:06d}",
                parent_id=parent_pk,
                path=path,
                slug=f"tenant-{index}",
                name=f"Tenant {index:05d}",
                limits=limits,
                timezone=rng.choice(("UTC", "UTC", "Europe/Berlin", "America/New_York")),
            )
        )
    Account.objects.bulk_create(rows, batch_size=1_000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Account]):
                cursor.execute(sql)
    operator = User.objects.create_user("bench-operator", "op@bench.example", is_staff=True)
    admin = User.objects.create_user("bench-admin", "admin@bench.example")
    Membership.objects.create(user=admin, account=partner, role=Role.ADMIN)
    reseller = Account.objects.get(pk=base)
    leaf = Account.objects.filter(parent=reseller).order_by("pk").first()
    assert leaf is not None
    return World(
        partner=partner,
        reseller=reseller,
        leaf=leaf,
        operator=operator,
        partner_admin=admin,
        limited=limited,
        account_pks=[partner.pk, *(base + index for index in range(tenants))],
    )


def no_style() -> Any:
    from django.core.management.color import no_style as style

    return style()


def seed_events(world: World, events: int, now: dt.datetime, rng: random.Random) -> None:
    from tenants.metering.models import UsageEvent

    pks = world.account_pks
    # Skewed: a few tenants make most calls (Pareto weights), every tenant makes some.
    weights = [rng.paretovariate(1.2) for _ in pks]
    span = DAYS * 86_400
    batch: list[UsageEvent] = []
    chosen = rng.choices(pks, weights=weights, k=events)
    for number, account_pk in enumerate(chosen):
        created = now - dt.timedelta(seconds=rng.random() * span)
        rejected = rng.random() < 0.02
        messages = 0 if rejected else rng.choice((0, 1, 1, 2))
        batch.append(
            UsageEvent(
                account_id=account_pk,
                token_id=f"tok_{account_pk}_{rng.randrange(3)}",
                route="/conversation/{conversationId}/complete",
                method="POST",
                status=429 if rejected else (500 if rng.random() < 0.01 else 200),
                error_code="LIMITS_REACHED" if rejected else "",
                duration_ms=rng.randrange(5, 3_000),
                messages=messages,
                conversations=1 if messages and rng.random() < 0.1 else 0,
                tokens=0 if rejected else rng.randrange(10, 2_000),
                request_id=f"req-{number}",
                created_at=created,
            )
        )
        if len(batch) >= EVENT_BATCH:
            UsageEvent.objects.bulk_create(batch)
            batch = []
    if batch:
        UsageEvent.objects.bulk_create(batch)
