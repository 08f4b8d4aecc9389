"""The outbound client: the only code in the portal that talks to the upstream API.

    client = get_client()                       # per running event loop
    bots = await client.request_json(conn, "GET", "/v1/bot/list", params={"take": 20})
    async for event in client.stream_events(conn, "POST", "/v1/conversation/complete",
                                            json=body, run_as=child_id):
        ...
    async with client.open(conn, "POST", path, headers=..., content=raw) as response:
        async for chunk in response.aiter_raw(): ...
    run_sync(lambda client: client.request_json(conn, "GET", "/v1/usage/fetch"))  # sync code

``conn`` is an ``UpstreamConnection(base_url, secret)`` built from a partner's stored
configuration, never from a request. Failures raise ``UpstreamError`` subclasses carrying
``message``, ``code`` and ``status`` (see errors.py). Log lines carry method, path, status and
duration only, and pass a secret-masking filter first.
"""

from __future__ import annotations

import logging

from portal.redaction import RedactSecretsFilter

from .client import UpstreamClient
from .config import RetryPolicy, Timeouts, UpstreamConnection
from .errors import (
    UpstreamError,
    UpstreamHTTPError,
    UpstreamStreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .registry import aclose_all, get_client, run_sync
from .streaming import UpstreamResponse

# Settings install the same filter on every handler; this one on the logger also covers
# handlers that tests (caplog) or embedding code attach without it.
_logger = logging.getLogger("portal.upstream")
if not any(isinstance(f, RedactSecretsFilter) for f in _logger.filters):
    _logger.addFilter(RedactSecretsFilter())

__all__ = [
    "RetryPolicy",
    "Timeouts",
    "UpstreamClient",
    "UpstreamConnection",
    "UpstreamError",
    "UpstreamHTTPError",
    "UpstreamResponse",
    "UpstreamStreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "aclose_all",
    "get_client",
    "run_sync",
]
