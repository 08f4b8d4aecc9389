"""The proxy's live world (tests/proxy/conftest.py): the portal, the sandbox behind it."""

from __future__ import annotations

from tests.proxy.conftest import (  # noqa: F401  (fixtures, re-exported for these modules)
    _db_and_clean_sandbox,
    client,
    portal,
    second_worker,
    world,
)
