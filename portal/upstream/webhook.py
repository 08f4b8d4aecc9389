"""Posting a signed event to a webhook URL, with the one outbound client's connection pool.

Webhook URLs are given by people (an account's endpoints), unlike the upstream's base URL, so
they are held to more rules: ``http``/``https`` only, no credentials in the URL, and, unless
``PORTAL_WEBHOOK_ALLOW_PRIVATE`` is true, no host resolving to a private, loopback, link-local
or otherwise non-public address (checked when the endpoint is added and again on every post,
so a name re-pointed at an internal address later is refused too). Redirects are not followed.

    status = run_sync(lambda client: post_webhook(client, url, body=raw, headers=headers))
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from django.conf import settings
from yarl import URL

from .client import UpstreamClient
from .errors import UpstreamTimeout, UpstreamUnavailable

# What a receiver may answer with; more is read and dropped.
_MAX_EXCERPT = 500


class WebhookURLRefused(ValueError):
    """The URL may not be posted to; the message says why, fit for people."""


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int
    duration_ms: int
    excerpt: str  # the start of the receiver's body, for the delivery log


def check_webhook_url(url: str, *, resolve: bool = True) -> URL:
    """The parsed URL if it may be posted to, else ``WebhookURLRefused``."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise WebhookURLRefused("The URL is not valid.") from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise WebhookURLRefused("The URL must be an absolute http:// or https:// URL.")
    if parsed.user or parsed.password:
        raise WebhookURLRefused("The URL must carry no user name or password.")
    if parsed.fragment:
        raise WebhookURLRefused("The URL must have no #fragment.")
    if resolve and not settings.PORTAL_WEBHOOK_ALLOW_PRIVATE:
        for address in _addresses(parsed.host, parsed.port or 443):
            if not address.is_global or address.is_multicast:
                raise WebhookURLRefused(
                    "The URL's host is a private, loopback or reserved address; webhooks go to "
                    "public addresses only."
                )
    return parsed


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise WebhookURLRefused(f"The URL's host {host} does not resolve.") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def post_webhook(
    client: UpstreamClient,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    seconds: float = 10.0,
) -> WebhookResponse:
    """POST ``body`` once (no retries here: the caller's task retries). Any status is returned;
    transport failures raise ``UpstreamUnavailable``/``UpstreamTimeout`` (no URL in them)."""
    target = check_webhook_url(url)
    session = client._session_for_running_loop()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            async with session.post(
                target,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
            ) as response:
                raw = await response.content.read(_MAX_EXCERPT)
                status = response.status
    except TimeoutError:
        raise UpstreamTimeout(
            f"The webhook at {target.host} did not answer within {seconds:g} s"
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnavailable(
            f"The webhook at {target.host} is unreachable ({type(exc).__name__})"
        ) from None
    duration_ms = int((time.perf_counter() - started) * 1000)
    return WebhookResponse(status, duration_ms, raw.decode("utf-8", "replace"))
