"""The in-process usage buffer: the hot path appends, a background task writes in batches.

    request ─► record(event)  (append to a bounded deque; never waits, never touches the database)
    flusher ─► every METERING_FLUSH_INTERVAL_MS, or at once when METERING_FLUSH_BATCH events
               wait ─► bulk_create on the buffer's own database thread

- A full buffer (``METERING_BUFFER_MAX_EVENTS``) drops the new event, counts it (``dropped``)
  and logs a warning at most every ``_ALERT_EVERY`` seconds: recording never waits.
- A batch that cannot be written because the database is unavailable goes back to the front
  of the buffer and is retried on the next tick (what no longer fits is dropped and counted);
  a batch the database refuses for its content is dropped, counted and logged.
- ``shutdown()`` (the ASGI lifespan shutdown, portal/asgi.py) stops the flusher and writes
  everything left: nothing is lost on a normal shutdown.
- The flusher is started by the first ``record()`` on a running event loop, so no start-up
  hook is needed (uvicorn, the embedded profile, tests' in-thread servers alike). Writes run on
  one thread owned by the buffer, not on asgiref's shared thread, so a batch never delays a
  cold-path database read of a request.
- That thread keeps its database connection between batches (whatever
  ``DATABASE_CONN_MAX_AGE`` says for requests) and closes it after
  ``METERING_KEEP_CONNECTION_SECONDS`` without a write, or after an error. Opening one per
  batch (twice a second under load) cost PostgreSQL a backend start each time and the proxy
  its tail: bench/gateway's one-at-a-time calls went from p99 2.5 ms to 1.3-1.5 ms with the
  connection kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import operator
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    transaction,
)

logger = logging.getLogger("tenants.metering")

_ALERT_EVERY = 10.0  # seconds between two "buffer full" warnings


@dataclass(slots=True)
class UsageRecord:
    """One call as the hot path hands it over; becomes a ``UsageEvent`` row when written."""

    account_id: int
    token_id: str
    route: str
    method: str
    status: int
    error_code: str
    duration_ms: int
    messages: int
    conversations: int
    tokens: int
    input_tokens: int
    output_tokens: int
    estimated: bool
    client_disconnected: bool
    request_id: str
    created_at: float  # epoch seconds: when the call ended


Writer = Callable[[Sequence[UsageRecord]], None]


# A row's columns: ``UsageRecord``'s fields in their order (``created_at``, the last, adapted
# on the way), then ``recorded_at``, the time the batch reached the database.
_FIELDS = tuple(field.name for field in dataclasses.fields(UsageRecord))
assert _FIELDS[-1] == "created_at"
_COLUMNS = (*_FIELDS, "recorded_at")
_PLAIN_VALUES = operator.attrgetter(*_FIELDS[:-1])


def write_events(batch: Sequence[UsageRecord], *, keep_connection: bool = False) -> None:
    """Insert one batch (runs on the buffer's thread).

    Plain tuples, not ``bulk_create``: building a model instance and compiling its SQL per row
    held the GIL for tens of milliseconds per batch, time taken from the event loop that
    serves the proxy (measured with bench/gateway: the writer thread was a fifth of the proxy's
    CPU at saturation). PostgreSQL takes them by ``COPY`` (psycopg writes rows in C; its
    ``executemany`` and long multi-row INSERTs spent 100 µs and more of Python per row), other
    databases by ``executemany`` (SQLite's runs in C).
    """
    from django.db import connection

    from tenants.metering.models import UsageEvent

    if not keep_connection:
        close_old_connections()
    try:
        adapt = connection.ops.adapt_datetimefield_value
        recorded_at = adapt(datetime.now(tz=UTC))
        rows = [
            (
                *_PLAIN_VALUES(item),
                adapt(datetime.fromtimestamp(item.created_at, tz=UTC)),
                recorded_at,
            )
            for item in batch
        ]
        quote = connection.ops.quote_name
        table = quote(UsageEvent._meta.db_table)
        columns = ", ".join(quote(name) for name in _COLUMNS)
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * len(_COLUMNS))
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608
                    rows,
                )
    except (DatabaseError, InterfaceError):
        # A connection that failed is not kept for the next batch (it reconnects then).
        # (InterfaceError, a closed or broken connection, is not a DatabaseError.)
        connection.close()
        raise
    finally:
        if not keep_connection:
            # As after a request: honours DATABASE_CONN_MAX_AGE (0 closes it until next time).
            close_old_connections()


def close_writer_connection() -> None:
    """Close the calling thread's database connection (run on the buffer's thread)."""
    from django.db import connection

    connection.close()


class UsageBuffer:
    def __init__(
        self,
        *,
        max_events: int,
        batch_size: int,
        interval_ms: int,
        writer: Writer | None = None,
        keep_connection_seconds: float = 0.0,
    ) -> None:
        self.max_events = max_events
        self.batch_size = batch_size
        self.interval = interval_ms / 1000
        # The default writer keeps its connection for keep_connection_seconds after a write;
        # a writer given by the caller manages its own.
        self.keep_connection_seconds = keep_connection_seconds if writer is None else 0.0
        self._write: Writer = writer or functools.partial(
            write_events, keep_connection=self.keep_connection_seconds > 0
        )
        self._last_write: float | None = None  # while the writer's connection is kept
        self._queue: deque[UsageRecord] = deque()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metering")
        self._last_alert = 0.0
        # Counters since the process started (or the buffer was made).
        self.recorded = 0
        self.written = 0
        self.dropped = 0
        self.failed_batches = 0

    def __len__(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        return {
            "pending": len(self._queue),
            "recorded": self.recorded,
            "written": self.written,
            "dropped": self.dropped,
            "failed_batches": self.failed_batches,
        }

    # -- the hot path --------------------------------------------------------------------------

    def record(self, event: UsageRecord) -> bool:
        """Queue one event; False (and counted) when the buffer is full. Never blocks."""
        if len(self._queue) >= self.max_events:
            self._drop(1)
            return False
        self._queue.append(event)
        self.recorded += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return True  # a caller without a loop: flush() or the next async record() writes it
        if self._task is None or self._task.done() or not _alive(self._loop):
            self._start(loop)
        elif len(self._queue) >= self.batch_size and self._loop is loop and self._wake:
            self._wake.set()
        return True

    def _drop(self, count: int) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._last_alert >= _ALERT_EVERY:
            self._last_alert = now
            logger.warning(
                "usage buffer full (%d events): %d usage events dropped since start",
                self.max_events,
                self.dropped,
            )

    # -- the flusher ---------------------------------------------------------------------------

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = loop.create_task(self._run(self._wake), name="usage-buffer-flusher")

    async def _run(self, wake: asyncio.Event) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.interval)
            wake.clear()
            await self.flush(until_empty=False)
            last = self._last_write
            if last is not None and time.monotonic() - last >= self.keep_connection_seconds:
                await self._close_connection()

    async def _close_connection(self) -> None:
        if self._last_write is None:
            return
        self._last_write = None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(DatabaseError):
            await asyncio.shield(loop.run_in_executor(self._executor, close_writer_connection))

    async def flush(self, *, until_empty: bool = True) -> int:
        """Write what is queued now; returns how many events were written."""
        loop = asyncio.get_running_loop()
        written = 0
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            try:
                # Shielded: a cancelled flusher still finishes (and accounts for) its batch.
                await asyncio.shield(loop.run_in_executor(self._executor, self._write, batch))
            except (OperationalError, InterfaceError):
                self.failed_batches += 1
                logger.exception("usage events not written (database unavailable); retrying")
                self._requeue(batch)
                return written
            except (DatabaseError, ValueError, TypeError):
                # Refused for what it holds: retrying would refuse it again.
                self.failed_batches += 1
                logger.exception("usage events refused by the database; %d dropped", len(batch))
                self._drop(len(batch))
                continue
            written += len(batch)
            self.written += len(batch)
            if self.keep_connection_seconds:
                self._last_write = time.monotonic()
            if not until_empty and len(self._queue) < self.batch_size:
                break
        return written

    def discard(self) -> int:
        """Drop every queued event unwritten; returns how many (tests: one test's events
        belong to its own rolled-back database, never to the next test's)."""
        count = len(self._queue)
        self._queue.clear()
        return count

    def _requeue(self, batch: list[UsageRecord]) -> None:
        room = max(0, self.max_events - len(self._queue))
        keep = batch[:room]
        self._queue.extendleft(reversed(keep))
        if len(batch) > len(keep):
            self._drop(len(batch) - len(keep))

    async def shutdown(self) -> int:
        """Stop this loop's flusher and write everything left (ASGI lifespan shutdown)."""
        task, wake = self._task, self._wake
        if task is not None and self._loop is asyncio.get_running_loop() and not task.done():
            self._stopping = True
            if wake is not None:
                wake.set()
            await task
            self._task = None
        written = await self.flush()
        await self._close_connection()
        return written


def _alive(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and not loop.is_closed() and loop.is_running()


_default: UsageBuffer | None = None


def default_buffer() -> UsageBuffer:
    """This process's buffer, sized from settings on first use."""
    global _default
    if _default is None:
        _default = UsageBuffer(
            max_events=settings.METERING_BUFFER_MAX_EVENTS,
            batch_size=settings.METERING_FLUSH_BATCH,
            interval_ms=settings.METERING_FLUSH_INTERVAL_MS,
            keep_connection_seconds=settings.METERING_KEEP_CONNECTION_SECONDS,
        )
    return _default
