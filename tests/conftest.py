from __future__ import annotations

import pytest

from tenants.branding.lookup import clear_local_cache
from tenants.metering.buffer import default_buffer

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.live", "tests.fixtures.browser"]


@pytest.fixture(autouse=True)
def _forget_cached_brands() -> None:
    # Brands are kept in this process's memory by partner primary key; each test's database is
    # rolled back (SQLite then hands out the same keys again), so no test may see another's.
    clear_local_cache()


@pytest.fixture(autouse=True)
def _no_usage_events_from_earlier_tests() -> None:
    # The process's usage buffer outlives a test: events a test queued and did not flush would
    # be written by whichever test flushes next (an ASGI lifespan shutdown, a proxied call),
    # into that test's database or into one that test may not touch at all.
    default_buffer().discard()


@pytest.fixture(autouse=True, scope="session")
def _usage_writer_closes_its_connection_after_each_batch() -> None:
    # The default usage buffer's thread would otherwise keep a connection to the test database
    # for METERING_KEEP_CONNECTION_SECONDS after a test, and PostgreSQL refuses to drop a
    # database in use. tests/metering/test_buffer.py tests the kept connection itself.
    from django.conf import settings

    settings.METERING_KEEP_CONNECTION_SECONDS = 0
