"""The widget's live world: the proxy's (tests/proxy/conftest.py), bots made upstream as each
tenant, and widget keys issued through the real service (tests/widget/helpers.py).

    partner_a ─┬─ a_child ── a_grandchild      partner_b ── b_child
               └─ a_sibling

Keys are made per test (``widget_key``) so that no test shares a key's rate windows or a
session's conversation with another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tenants.widget import origins
from tests.proxy.conftest import (  # noqa: F401  (fixtures, re-exported for these modules)
    World,
    _db_and_clean_sandbox,
    client,
    portal,
    second_worker,
    world,
)
from tests.widget.helpers import make_bot


@dataclass
class Bots:
    a_child: str
    a_child_other: str
    b_child: str


@pytest.fixture(scope="module")
def bots(world: World) -> Bots:  # noqa: F811  (the fixture above)
    return Bots(
        a_child=make_bot(world, world.a_child, "A Helper"),
        a_child_other=make_bot(world, world.a_child, "A Other"),
        b_child=make_bot(world, world.b_child, "B Helper"),
    )


@pytest.fixture(autouse=True)
def _fresh_origin_answers() -> Iterator[None]:
    # The preflight's per-process copy of the origins must not carry one test's keys into
    # another (each module's rows are flushed without an announcement).
    origins.clear_local_cache()
    yield
    origins.clear_local_cache()
