"""A lean HTTP/1.1 client with keep-alive pools: the transport of ``UpstreamClient.open()``.

The proxy relays every call through ``open()``, so its transport is on the hot path twice per
call (the request, the answer's headers) and once per streamed chunk. aiohttp's client, which
serves the portal's own calls (retries, JSON, events), spends most of a relayed call's client
time on machinery the relay does not use: cookie jars, URL objects, redirects, trace hooks,
a timer re-armed on every chunk, a task per request. bench/gateway measured it at about a
third of the proxy's CPU per call. This package is only what the relay needs (connection.py:
the wire and the answer; pool.py: the pools; errors.py: what it raises):

- one ``asyncio.Protocol`` per connection, parsed by ``httptools`` (llhttp, the parser uvicorn
  serves with), the request written in one ``write``;
- pools per origin, last in first out, at most ``max_connections`` open per pool, idle
  connections dropped after ``idle_seconds`` or as soon as the server closes them;
- body chunks handed to the reader as they arrive (no buffering for tokens), with reading
  paused while a slow reader holds more than ``_HIGH_WATER`` bytes;
- one silence timer per connection that re-arms itself (``read`` seconds without a byte, before
  the headers or between chunks) rather than a timer per chunk; the connect timeout only
  around opening a connection, the pool timeout only while waiting for one.

What it refuses to be: a general client. No redirects, no cookies, no compression (the caller
asks for ``identity``), no ``Expect: 100-continue``, no proxies from the environment. A
``HEAD`` answer ends with its headers and its connection is not reused (llhttp cannot be told
that a HEAD answer has no body; the health probe is the only caller that sends one).

Failures are the built-in exception types the callers already map (client.py, streaming.py):
``ConnectError`` (an ``OSError``), ``TimeoutError`` subclasses, ``ConnectionError`` subclasses.
"""

from __future__ import annotations

from .connection import Origin, Response
from .errors import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    InvalidResponse,
    PoolTimeout,
    ReadTimeout,
)
from .pool import Pool

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "InvalidResponse",
    "Origin",
    "Pool",
    "PoolTimeout",
    "ReadTimeout",
    "Response",
]
