from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tenants.credentials import authentication, clear_local_cache
from tests.factories import make_partner, make_tenant


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Each test starts as a freshly started worker: nothing cached in memory."""
    clear_local_cache()
    authentication.clear_last_used_notes()
    yield
    clear_local_cache()
    authentication.clear_last_used_notes()


@pytest.fixture
def partner(db):
    return make_partner("Token Partner")


@pytest.fixture
def tenant(partner):
    return make_tenant(partner, "Token Tenant")


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Call a service and run its on-commit work (republishing the token's record) right away,
    as it happens outside a test's wrapping transaction."""

    def call(service: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return service(*args, **kwargs)

    return call


@pytest.fixture
def clock(monkeypatch) -> Callable[[float], None]:
    """Move the clock authentication reads by some seconds (expiry, rotation grace)."""
    offset = [0.0]
    real = authentication._wall_clock

    def now() -> float:
        return real() + offset[0]

    monkeypatch.setattr(authentication, "_wall_clock", now)

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance
