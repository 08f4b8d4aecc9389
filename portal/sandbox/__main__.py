"""`python -m portal.sandbox`: run the sandbox upstream as its own process."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from aiohttp import web

from portal.sandbox.app import build_app
from portal.sandbox.context import Config, Sandbox, log
from portal.sandbox.store import load_snapshot


def _env_bool(name: str) -> bool:
    # Only "true"/"false": a typo such as SANDBOX_DEV=ture must not silently mean "off".
    value = os.environ.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise SystemExit(f"{name} must be true or false, not {value!r}")
    return value == "true"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {value!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m portal.sandbox", description="Offline ChatBotKit-compatible upstream."
    )
    parser.add_argument("--host", default=os.environ.get("SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=_env_int("SANDBOX_PORT", 8001))
    parser.add_argument(
        "--dev",
        action="store_true",
        default=_env_bool("SANDBOX_DEV"),
        help="serve the /_sandbox/... control surface (no credentials; never expose it)",
    )
    parser.add_argument(
        "--state-file",
        type=Path,
        default=os.environ.get("SANDBOX_STATE_FILE") or None,
        help="JSON snapshot loaded at start and written on shutdown",
    )
    parser.add_argument(
        "--token-delay-ms", type=int, default=_env_int("SANDBOX_TOKEN_DELAY_MS", 30)
    )
    parser.add_argument(
        "--ping-interval-ms", type=int, default=_env_int("SANDBOX_PING_INTERVAL_MS", 10_000)
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox %(levelname)s %(message)s")
    config = Config(token_delay_ms=args.token_delay_ms, ping_interval_ms=args.ping_interval_ms)
    sandbox = Sandbox(
        config=config,
        startup_config=Config(args.token_delay_ms, args.ping_interval_ms),
        dev=args.dev,
        state_file=args.state_file,
    )
    if args.state_file is not None and load_snapshot(sandbox.store, args.state_file):
        log.info("state loaded from %s: %s", args.state_file, sandbox.store.counts())
    web.run_app(
        build_app(sandbox),
        host=args.host,
        port=args.port,
        # Cancel a handler as soon as its client disconnects, so streams stop at once.
        handler_cancellation=True,
        access_log=logging.getLogger("aiohttp.access") if args.access_log else None,
        # Subscriptions never end by themselves; do not wait a minute for them on Ctrl-C.
        shutdown_timeout=1.0,
        print=lambda _: log.info(
            "listening on http://%s:%s%s", args.host, args.port, " (dev)" if args.dev else ""
        ),
    )


if __name__ == "__main__":
    main()
