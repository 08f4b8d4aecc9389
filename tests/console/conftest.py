"""The console's page tests use the personas of the page tests (tests/pages/conftest.py)."""

from __future__ import annotations

from tests.pages.conftest import client_for, pages  # noqa: F401  (fixtures, used by name)
