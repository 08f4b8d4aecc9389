"""The benchmark's upstream: a bare ASGI app that answers the few calls the gateways forward.

It must never be the bottleneck, so it is no framework, holds no state beyond counters, and runs
on uvicorn with uvloop and httptools. It speaks two shapes:

- the upstream's (UPSTREAM.md): ``GET /v1/bot/list`` (a ~1 KB JSON list page), and
  ``POST /v1/conversation/complete``, JSON or (``Accept: application/jsonl``) a stream of
  ``token`` events, then ``usage`` and ``result``; the partner calls the portal's seeding makes
  (``/v1/partner/user/...``) get plausible answers;
- an OpenAI-shaped variant for LiteLLM: ``POST /v1/chat/completions``, JSON or SSE.

Knobs, as query parameters (which the portal and nginx forward as they are): ``tokens`` (20),
``gap`` (ms between tokens, 10), ``first`` (ms before the first token, 0), ``fail`` (answer
with this status instead), ``sid`` (a stream id, for the abort log). The OpenAI variant takes
the command line's defaults, since LiteLLM forwards no query string.

Every stream watches for its client leaving: the abort is counted, logged to stderr and kept
with its time (``time.monotonic()``, the system-wide CLOCK_MONOTONIC the bench client also
reads) so the harness can tell how long a gateway took to close the upstream request after its
own client left. ``GET /_stub/stats`` returns the counters; ``POST /_stub/reset`` zeroes them.

Run: python -m bench.gateway.stub --port 9101
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

Scope = dict[str, Any]

# About 1 KB, shaped like an upstream list page (the same page as bench/outbound_client.py).
LIST_PAGE = json.dumps(
    {
        "items": [
            {"id": f"clx{i:021d}", "name": f"Bot {i}", "createdAt": 1_780_000_000_000 + i}
            for i in range(14)
        ],
        "cursor": "clx000000000000000000013",
    },
    separators=(",", ":"),
).encode()
INPUT_TOKENS = 5
WORD = " lorem"


class Stats:
    """What the stub saw: requests per route, run-as ids, open streams, client aborts."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.run_as: Counter[str] = Counter()
        self.open_streams = 0
        self.max_open_streams = 0
        self.streams_completed = 0
        self.aborts: list[tuple[str, float, int]] = []  # (sid, monotonic time, tokens sent)

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "requests": dict(self.requests),
                "runAs": dict(self.run_as),
                "openStreams": self.open_streams,
                "maxOpenStreams": self.max_open_streams,
                "streamsCompleted": self.streams_completed,
                "aborts": [{"sid": s, "at": at, "tokens": n} for s, at, n in self.aborts],
            }
        ).encode()


@dataclass(frozen=True, slots=True)
class Knobs:
    tokens: int = 20
    gap: float = 0.010  # seconds between tokens
    first: float = 0.0  # seconds before the first token
    fail: int = 0  # answer with this status instead
    sid: str = ""

    def with_query(self, query: bytes) -> Knobs:
        if not query:
            return self
        values = dict(parse_qsl(query.decode("latin-1")))
        return Knobs(
            tokens=int(values.get("tokens", self.tokens)),
            gap=float(values["gap"]) / 1000 if "gap" in values else self.gap,
            first=float(values["first"]) / 1000 if "first" in values else self.first,
            fail=int(values.get("fail", 0)),
            sid=values.get("sid", ""),
        )


class Stub:
    def __init__(self, defaults: Knobs) -> None:
        self.stats = Stats()
        self.defaults = defaults

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path: str = scope["path"].removeprefix("/api")
        method: str = scope["method"]
        headers = dict(scope["headers"])
        if path.startswith("/_stub/"):
            await self._control(path, send)
            return
        run_as = headers.get(b"x-runas-user-id")
        if run_as is not None:
            self.stats.run_as[run_as.decode("latin-1")] += 1
        knobs = self.defaults.with_query(scope.get("query_string", b""))
        if method == "POST":
            await _read_body(receive)
        route = f"{method} {path}"
        self.stats.requests[route] += 1
        if knobs.fail:
            await _json(send, knobs.fail, b'{"message":"Injected failure","code":"GENERIC_ERROR"}')
            return
        accept = headers.get(b"accept", b"")
        if route == "GET /v1/bot/list":
            await _json(send, 200, LIST_PAGE)
        elif route == "POST /v1/conversation/complete":
            if b"jsonl" in accept:
                await self._stream(knobs, receive, send, _jsonl_events(knobs), b"application/jsonl")
            else:
                await _json(send, 200, _complete_json(knobs.tokens))
        elif route == "POST /v1/chat/completions":
            # LiteLLM asks for a stream in the body; the bench never does, so JSON unless the
            # client accepts SSE only.
            if accept == b"text/event-stream":
                await self._stream(knobs, receive, send, _sse_events(knobs), b"text/event-stream")
            else:
                await _json(send, 200, _chat_json(knobs.tokens))
        elif path.startswith("/v1/partner/user/"):
            await _json(send, 200, _partner(path))
        else:
            await _json(send, 404, b'{"message":"Not found","code":"NOT_FOUND"}')

    async def _control(self, path: str, send: Any) -> None:
        if path == "/_stub/reset":
            self.stats.reset()
            await _json(send, 200, b"{}")
        else:
            await _json(send, 200, self.stats.as_json())

    async def _stream(
        self, knobs: Knobs, receive: Any, send: Any, lines: Any, content_type: bytes
    ) -> None:
        stats = self.stats
        stats.open_streams += 1
        stats.max_open_streams = max(stats.max_open_streams, stats.open_streams)
        task = asyncio.current_task()
        sent = 0
        left: list[float] = []

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            left.append(time.monotonic())
            if task is not None:
                task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", content_type), (b"cache-control", b"no-cache")],
                }
            )
            loop = asyncio.get_running_loop()
            # Paced against a schedule, so that a late wake-up does not push every later token.
            due = loop.time() + knobs.first
            for count, line in lines:
                if count:
                    due += knobs.gap if sent else 0.0
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent += 1
                await send({"type": "http.response.body", "body": line, "more_body": True})
            watcher.cancel()
            await send({"type": "http.response.body", "body": b""})
            stats.streams_completed += 1
        except asyncio.CancelledError:
            if not left:
                raise
            stats.aborts.append((knobs.sid, left[0], sent))
            print(
                f"stub: client left stream {knobs.sid or '-'} after {sent} tokens", file=sys.stderr
            )
        finally:
            watcher.cancel()
            stats.open_streams -= 1


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _json(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"


def _jsonl_events(knobs: Knobs) -> list[tuple[int, bytes]]:
    """(is a token, line) pairs of a completion stream, in the upstream's shape (§6.4)."""
    now = int(time.time() * 1000)
    token = _line({"type": "token", "data": {"token": WORD}, "createdAt": now})
    text = WORD * knobs.tokens
    usage = {"model": "bench", "inputTokensUsed": INPUT_TOKENS, "outputTokensUsed": knobs.tokens}
    billed = {"token": INPUT_TOKENS + knobs.tokens}
    return [
        *((1, token) for _ in range(knobs.tokens)),
        (0, _line({"type": "usage", "data": usage, "createdAt": now})),
        (
            0,
            _line(
                {
                    "type": "result",
                    "data": {"text": text, "usage": billed, "end": {"reason": "stop"}},
                    "createdAt": now,
                }
            ),
        ),
    ]


def _complete_json(tokens: int) -> bytes:
    text = WORD * tokens
    usage = {"token": INPUT_TOKENS + tokens}
    return json.dumps({"text": text, "usage": usage, "end": {"reason": "stop"}}).encode()


def _chat_chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse_events(knobs: Knobs) -> list[tuple[int, bytes]]:
    def data(event: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"

    token = data(_chat_chunk({"content": WORD}, None))
    return [
        *((1, token) for _ in range(knobs.tokens)),
        (0, data(_chat_chunk({}, "stop"))),
        (0, b"data: [DONE]\n\n"),
    ]


def _chat_json(tokens: int) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": WORD * tokens},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": INPUT_TOKENS,
                "completion_tokens": tokens,
                "total_tokens": INPUT_TOKENS + tokens,
            },
        }
    ).encode()


def _partner(path: str) -> bytes:
    """Enough of the partner API for onboarding a tenant (tenants/services/upstream.py)."""
    if path == "/v1/partner/user/list":
        return b'{"items":[],"cursor":null}'
    if path == "/v1/partner/user/create":
        return json.dumps({"id": f"benchchild{time.monotonic_ns():x}"}).encode()
    return json.dumps({"id": path.split("/")[4]}).encode()


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=20, help="default tokens per stream")
    parser.add_argument("--gap", type=float, default=10.0, help="default ms between tokens")
    args = parser.parse_args()
    defaults = Knobs(tokens=args.tokens, gap=args.gap / 1000)
    uvicorn.run(
        Stub(defaults),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
