"""The ASGI lifespan: start-up freezes what start-up made; shutdown completes."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from portal.asgi import application


@pytest.fixture
def unfrozen() -> Any:
    gc.unfreeze()
    yield
    gc.unfreeze()  # back to a normal heap for the tests that follow


def test_startup_moves_the_startup_heap_out_of_the_collectors_reach(unfrozen: None) -> None:
    sent: list[str] = []
    frozen_at_startup: list[int] = []

    async def lifespan() -> None:
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

        async def receive() -> dict[str, str]:
            return next(messages)

        async def send(message: dict[str, str]) -> None:
            sent.append(message["type"])
            if message["type"] == "lifespan.startup.complete":
                frozen_at_startup.append(gc.get_freeze_count())

        await application({"type": "lifespan"}, receive, send)

    assert gc.get_freeze_count() == 0
    asyncio.run(lifespan())

    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    # Django, the apps and their modules: far more than a handful of objects.
    assert frozen_at_startup[0] > 50_000
