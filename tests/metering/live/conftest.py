"""Metering through the live portal: the proxy's fixtures (server, sandbox world), shared."""

from __future__ import annotations

from tests.proxy.conftest import (  # noqa: F401  (fixtures, used by name)
    _db_and_clean_sandbox,
    client,
    portal,
    world,
)
