"""The usage buffer: never blocks the request, drops and counts when full, loses nothing on a
normal shutdown, retries what the database could not take."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import pytest
from django.db import OperationalError

from tenants.metering.buffer import UsageBuffer, UsageRecord
from tenants.metering.models import UsageEvent
from tests.metering.factories import usage_record


class SlowWriter:
    """Stands in for the database: slow, and able to fail on demand."""

    def __init__(self, seconds: float = 0.0, failures: int = 0) -> None:
        self.seconds = seconds
        self.failures = failures
        self.batches: list[int] = []

    def __call__(self, batch: Sequence[UsageRecord]) -> None:
        time.sleep(self.seconds)
        if self.failures:
            self.failures -= 1
            raise OperationalError("the database is away")
        self.batches.append(len(batch))


def test_a_burst_of_2000_calls_is_taken_at_once_and_written_in_batches():
    writer = SlowWriter(seconds=0.05)  # a slow database does not slow record() down
    buffer = UsageBuffer(max_events=10_000, batch_size=500, interval_ms=50, writer=writer)

    async def burst() -> float:
        started = time.perf_counter()
        for number in range(2000):
            assert buffer.record(usage_record(request_id=str(number)))
        elapsed = time.perf_counter() - started
        await buffer.shutdown()
        return elapsed

    elapsed = asyncio.run(burst())

    assert elapsed < 0.5, f"2000 record() calls took {elapsed:.3f} s"
    assert sum(writer.batches) == 2000
    assert max(writer.batches) <= 500
    assert buffer.stats() == {
        "pending": 0,
        "recorded": 2000,
        "written": 2000,
        "dropped": 0,
        "failed_batches": 0,
    }


def test_a_full_buffer_drops_counts_and_warns_without_waiting(caplog):
    writer = SlowWriter(seconds=0.2)
    buffer = UsageBuffer(max_events=100, batch_size=1000, interval_ms=10_000, writer=writer)

    async def overflow() -> list[bool]:
        taken = [buffer.record(usage_record()) for _ in range(250)]
        await buffer.shutdown()
        return taken

    with caplog.at_level(logging.WARNING, logger="tenants.metering"):
        taken = asyncio.run(overflow())

    assert taken.count(True) == 100
    assert buffer.dropped == 150
    assert sum(writer.batches) == 100
    warnings = [r for r in caplog.records if "usage buffer full" in r.getMessage()]
    assert len(warnings) == 1  # one alert, not one per dropped event


def test_the_flusher_writes_on_its_own_within_the_interval():
    writer = SlowWriter()
    buffer = UsageBuffer(max_events=1000, batch_size=500, interval_ms=20, writer=writer)

    async def record_and_wait() -> None:
        for _ in range(3):
            buffer.record(usage_record())
        for _ in range(100):
            if sum(writer.batches) == 3:
                return
            await asyncio.sleep(0.01)

    asyncio.run(record_and_wait())

    assert sum(writer.batches) == 3


def test_a_batch_the_database_could_not_take_is_retried(caplog):
    writer = SlowWriter(failures=1)
    buffer = UsageBuffer(max_events=1000, batch_size=500, interval_ms=20, writer=writer)

    async def record_and_wait() -> None:
        for _ in range(5):
            buffer.record(usage_record())
        for _ in range(200):
            if sum(writer.batches) == 5:
                break
            await asyncio.sleep(0.01)
        await buffer.shutdown()

    with caplog.at_level(logging.ERROR, logger="tenants.metering"):
        asyncio.run(record_and_wait())

    assert sum(writer.batches) == 5
    assert buffer.failed_batches == 1
    assert buffer.dropped == 0


def test_events_recorded_without_a_running_loop_wait_for_the_next_flush():
    writer = SlowWriter()
    buffer = UsageBuffer(max_events=10, batch_size=5, interval_ms=10, writer=writer)

    buffer.record(usage_record())  # a sync caller: queued, no flusher started

    assert len(buffer) == 1
    assert asyncio.run(buffer.flush()) == 1


@pytest.mark.django_db(transaction=True)
def test_shutdown_writes_every_queued_event_to_the_database():
    buffer = UsageBuffer(max_events=5000, batch_size=200, interval_ms=60_000)

    async def record_then_shut_down() -> int:
        for number in range(1050):
            buffer.record(usage_record(account_id=4242, request_id=f"r{number}"))
        return await buffer.shutdown()

    written = asyncio.run(record_then_shut_down())

    assert written == 1050
    events = UsageEvent.objects.filter(account_id=4242)
    assert events.count() == 1050
    event = events.get(request_id="r7")
    assert (event.route, event.status, event.tokens, event.messages) == (
        "/conversation/complete",
        200,
        10,
        1,
    )
    assert event.created_at.tzinfo is not None


def _writer_connection_id(buffer: UsageBuffer) -> int | None:
    """The id of the raw connection the buffer's own thread holds (None: none open)."""
    from django.db import connection

    def read() -> int | None:
        raw = connection.connection
        return None if raw is None else id(raw)

    return buffer._executor.submit(read).result()


@pytest.mark.django_db(transaction=True)
def test_the_writer_keeps_its_connection_between_batches_and_closes_it_when_idle():
    buffer = UsageBuffer(
        max_events=5000, batch_size=10, interval_ms=20, keep_connection_seconds=0.3
    )

    async def batches() -> tuple[int | None, int | None, int | None]:
        buffer.record(usage_record(account_id=4343, request_id="a"))
        await buffer.flush()
        first = _writer_connection_id(buffer)
        buffer.record(usage_record(account_id=4343, request_id="b"))
        await buffer.flush()
        second = _writer_connection_id(buffer)
        await asyncio.sleep(0.6)  # longer than keep_connection_seconds without a write
        idle = _writer_connection_id(buffer)
        await buffer.shutdown()
        return first, second, idle

    first, second, idle = asyncio.run(batches())

    assert first is not None
    assert second == first  # the same connection served both batches
    assert idle is None  # and was closed once idle
    assert UsageEvent.objects.filter(account_id=4343).count() == 2


@pytest.mark.django_db(transaction=True)
def test_shutdown_closes_the_kept_connection_and_one_per_batch_is_the_default():
    kept = UsageBuffer(max_events=10, batch_size=10, interval_ms=60_000, keep_connection_seconds=60)
    plain = UsageBuffer(max_events=10, batch_size=10, interval_ms=60_000)

    async def run(buffer: UsageBuffer) -> tuple[int | None, int | None]:
        buffer.record(usage_record(account_id=4444))
        await buffer.flush()
        after_write = _writer_connection_id(buffer)
        await buffer.shutdown()
        return after_write, _writer_connection_id(buffer)

    assert asyncio.run(run(kept))[0] is not None
    assert asyncio.run(run(kept))[1] is None
    assert asyncio.run(run(plain)) == (None, None)


def test_discard_drops_what_is_queued_without_writing_it():
    written: list[UsageRecord] = []
    buffer = UsageBuffer(max_events=10, batch_size=5, interval_ms=1000, writer=written.extend)
    buffer.record(usage_record())
    buffer.record(usage_record())

    assert buffer.discard() == 2
    assert asyncio.run(buffer.flush()) == 0
    assert written == []
    assert buffer.stats()["recorded"] == 2
