"""An authenticated client for the sandbox contract tests, and a strict JSONL reader."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx


class Api:
    """Calls the sandbox with one credential (and optionally a run-as header)."""

    def __init__(
        self, client: httpx.Client, secret: str, prefix: str = "/v1", **headers: str
    ) -> None:
        self.client = client
        self.secret = secret
        self.prefix = prefix
        self.headers = {"Authorization": f"Bearer {secret}", **headers}

    def as_child(self, child_id: str) -> Api:
        return Api(self.client, self.secret, self.prefix, **{"X-RunAs-User-ID": child_id})

    def with_prefix(self, prefix: str) -> Api:
        extra = {k: v for k, v in self.headers.items() if k != "Authorization"}
        return Api(self.client, self.secret, prefix, **extra)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(self.prefix + path, params=params, headers=self.headers)

    def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        return self.client.post(
            self.prefix + path,
            json={} if body is None else body,
            headers={**self.headers, **headers},
        )

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.get(path, **params) if method == "GET" else self.post(path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def stream(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.client.stream(
            "POST",
            self.prefix + path,
            json=body,
            headers={**self.headers, "Accept": "application/jsonl"},
            **kwargs,
        )


def read_jsonl(response: httpx.Response) -> list[tuple[float, dict[str, Any]]]:
    """Every line with the time it arrived; asserts the framing the Node SDK relies on."""
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("application/jsonl")
    lines: list[tuple[float, dict[str, Any]]] = []
    pending = b""
    for chunk in response.iter_raw():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            assert raw.strip(), "a blank line would break the Node SDK's JSONL parser"
            event = json.loads(raw)
            assert isinstance(event, dict)
            assert set(event) >= {"type", "data"}, event
            lines.append((time.monotonic(), event))
    assert pending == b"", "the last line must end with a newline"
    return lines


def events(lines: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [event for _, event in lines]
