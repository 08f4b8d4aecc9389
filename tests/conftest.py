from __future__ import annotations

import pytest

from tenants.branding.lookup import clear_local_cache

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.live", "tests.fixtures.browser"]


@pytest.fixture(autouse=True)
def _forget_cached_brands() -> None:
    # Brands are kept in this process's memory by partner primary key; each test's database is
    # rolled back (SQLite then hands out the same keys again), so no test may see another's.
    clear_local_cache()
