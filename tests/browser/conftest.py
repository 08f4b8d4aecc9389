"""The proxy's live world (tests/proxy/conftest.py) for the browser tests that need the sandbox
behind the portal (the chat widget); the others never ask for it."""

from __future__ import annotations

from tests.proxy.conftest import (  # noqa: F401  (fixtures, re-exported for these modules)
    portal,
    world,
)
