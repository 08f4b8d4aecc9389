"""Usage read from what a call sends its client (tenants.metering.observer), message by message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tenants.metering.observer import UsageMeter

JSONL = [(b"content-type", b"application/jsonl")]
JSON = [(b"content-type", b"application/json")]


def _line(kind: str, **data: Any) -> bytes:
    return json.dumps({"type": kind, "data": data}, separators=(",", ":")).encode() + b"\n"


def _play(
    meter: UsageMeter,
    status: int,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes],
    *,
    finish: bool = True,
) -> list[dict[str, Any]]:
    """Sends the messages through the meter's ``send``; returns what reached the server."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    async def main() -> None:
        _, watched = meter.watch(receive, send)
        await watched({"type": "http.response.start", "status": status, "headers": headers})
        for chunk in chunks:
            await watched({"type": "http.response.body", "body": chunk, "more_body": True})
        if finish:
            await watched({"type": "http.response.body", "body": b""})

    asyncio.run(main())
    return sent


def _stream(*events: bytes) -> list[bytes]:
    return list(events)


COMPLETE = _stream(
    _line("sendResult", id="m1", text="Hi", entities=[], usage={"token": 0}),
    _line("completeBegin", iteration=1) + _line("token", token="Hel") + _line("token", token="lo"),
    _line("message", type="bot", text="Hello"),
    _line("usage", model="m", inputTokensUsed=12, outputTokensUsed=3),
    _line("completeEnd", iteration=1),
    _line("receiveResult", id="m2", text="Hello", usage={"token": 21}, end={"reason": "stop"}),
    _line("result", id="m2", text="Hello", usage={"token": 21}, end={"reason": "stop"}),
)


def test_a_completed_stream_counts_the_billing_tokens_of_its_result():
    meter = UsageMeter("stream")

    sent = _play(meter, 200, JSONL, COMPLETE)

    usage = meter.usage()
    assert (usage.tokens, usage.estimated) == (21, False)  # result, not receiveResult + result
    assert (usage.input_tokens, usage.output_tokens) == (12, 3)
    assert (usage.messages, usage.conversations) == (1, 0)
    assert [m.get("body") for m in sent[1:-1]] == COMPLETE  # passed on untouched


def test_a_stream_cut_after_its_usage_event_counts_the_raw_tokens_as_an_estimate():
    meter = UsageMeter("stream")

    _play(meter, 200, JSONL, COMPLETE[:4], finish=False)

    usage = meter.usage()
    assert (usage.tokens, usage.estimated, usage.messages) == (15, True, 1)


def test_a_stream_cut_before_any_usage_estimates_one_token_per_token_event():
    meter = UsageMeter("stream")

    _play(meter, 200, JSONL, [*COMPLETE[:2], _line("error", message="broke", code="BAD_GATEWAY")])

    usage = meter.usage()
    assert (usage.tokens, usage.estimated) == (2, True)
    assert meter.error_code == "BAD_GATEWAY"


def test_a_stream_cut_between_its_two_results_keeps_the_receive_result():
    meter = UsageMeter("stream")

    _play(meter, 200, JSONL, COMPLETE[:6])

    assert (meter.usage().tokens, meter.usage().estimated) == (21, False)


def test_lines_split_across_messages_and_sse_are_read_too():
    meter = UsageMeter("stream")
    sse = b"event: result\ndata: " + _line("result", text="x", usage={"token": 9})

    _play(meter, 200, [(b"content-type", b"text/event-stream")], [sse])

    assert meter.usage().tokens == 9


def test_a_json_answer_counts_its_usage_token():
    meter = UsageMeter("stream")

    _play(meter, 200, JSON, [json.dumps({"text": "hi", "usage": {"token": 7}}).encode()])

    assert (meter.usage().tokens, meter.usage().estimated, meter.usage().messages) == (7, False, 1)


def test_a_json_answer_without_usage_is_an_estimate_of_zero():
    meter = UsageMeter("stream")

    _play(meter, 200, JSON, [b'{"text": "hi"}'])

    assert (meter.usage().tokens, meter.usage().estimated) == (0, True)


def test_an_error_answer_counts_nothing_and_keeps_its_code():
    meter = UsageMeter("stream")

    _play(meter, 429, JSON, [b'{"message": "Limits", "code": "LIMITS_REACHED"}'])

    assert meter.usage().messages == meter.usage().tokens == 0
    assert meter.error_code == "LIMITS_REACHED"


def test_an_idempotent_replay_counts_nothing():
    meter = UsageMeter("stream")

    _play(meter, 200, [*JSON, (b"idempotent-replayed", b"true")], [b'{"usage":{"token":5}}'])

    assert meter.usage().tokens == meter.usage().messages == 0


def test_routes_count_messages_and_conversations_as_the_route_table_says():
    created = UsageMeter("conversation")
    _play(created, 200, JSON, [b'{"id": "c1"}'])
    listed = UsageMeter("none")
    _play(listed, 200, JSONL, [_line("item", id="c1", text="usage result")])

    assert (created.usage().conversations, created.usage().messages) == (1, 0)
    assert listed.usage() == listed.usage().__class__(0, 0, 0, 0, 0, estimated=False)


def test_a_client_that_leaves_before_the_end_is_noted_but_one_after_it_is_not():
    async def main(leave_early: bool) -> UsageMeter:
        meter = UsageMeter("stream")

        async def receive() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            pass

        watched_receive, watched_send = meter.watch(receive, send)
        await watched_send({"type": "http.response.start", "status": 200, "headers": JSONL})
        if not leave_early:
            await watched_send({"type": "http.response.body", "body": b""})
        await watched_receive()
        return meter

    assert asyncio.run(main(leave_early=True)).client_disconnected is True
    assert asyncio.run(main(leave_early=False)).client_disconnected is False
