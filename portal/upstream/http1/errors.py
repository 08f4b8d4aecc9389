"""What the relay's transport raises: built-in types the callers already map (client.py,
wire.py, streaming.py)."""

from __future__ import annotations


class ConnectError(OSError):
    """The connection could not be opened (refused, unreachable, DNS, TLS)."""


class ConnectTimeout(TimeoutError):
    """Opening the connection took longer than the connect timeout."""


class PoolTimeout(TimeoutError):
    """Every connection of the pool stayed busy for the whole pool timeout."""


class ReadTimeout(TimeoutError):
    """The upstream sent nothing for ``read`` seconds (before the headers or mid-body)."""


class ConnectionClosed(ConnectionError):
    """The upstream closed the connection before the answer was complete."""


class InvalidResponse(ConnectionError):
    """The upstream's bytes are not a valid HTTP/1.1 answer."""
