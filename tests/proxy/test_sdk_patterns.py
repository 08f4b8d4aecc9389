"""The official SDKs' calls (UPSTREAM.md §10), pointed at the portal instead of ChatBotKit.

The requests are written with httpx exactly as each SDK builds them: `/api/v1/...` paths (the
SDKs keep `/api` for any host but api.chatbotkit.com), their run-as header spelling, their
`Accept` for streams, `{}` bodies for deletes, and their error handling (message and code from
the JSON body).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

SDK_STYLES = {
    # Python SDK (_transport.py): Bearer, X-RunAs-User-ID.
    "python": ("Bearer", "X-RunAs-User-ID"),
    # Node SDK (client.js): Bearer, lower-case x-runas-user-id.
    "node": ("Bearer", "x-runas-user-id"),
    # ChatBotKit's manuals: `Token` scheme and X-RunAs-UserId.
    "manual": ("Token", "X-RunAs-UserId"),
}


class SdkError(Exception):
    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class Sdk:
    """What the SDKs do on the wire, in a few lines."""

    def __init__(self, base_url: str, token: str, scheme: str, run_as_header: str, run_as: str):
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"{scheme} {token}", run_as_header: run_as},
            timeout=15,
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(
            method,
            f"/api/v1{path}",
            json=body if method == "POST" else None,
            headers={"Accept": "application/json"},
        )
        if response.status_code >= 400:
            data = response.json()
            raise SdkError(data["message"], data["code"], response.status_code)
        return response.json()

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with self._http.stream(
            "POST", f"/api/v1{path}", json=body, headers={"Accept": "application/jsonl"}
        ) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def close(self) -> None:
        self._http.close()


@pytest.fixture(params=list(SDK_STYLES))
def sdk(request, world, portal) -> Iterator[Sdk]:
    scheme, header = SDK_STYLES[request.param]
    # A partner program: the partner's token acting as its tenant, as the whitelabel starter does.
    token = world.token(world.partner_a)
    client = Sdk(portal.url, token, scheme, header, world.a_child.public_id)
    yield client
    client.close()


def test_a_bot_lifecycle_as_the_sdks_run_it(sdk):
    bot = sdk.call("POST", "/bot/create", {"name": "sdk bot", "backstory": "You help."})
    fetched = sdk.call("GET", f"/bot/{bot['id']}/fetch")
    sdk.call("POST", f"/bot/{bot['id']}/update", {"name": "sdk bot 2"})
    listed = sdk.call("GET", "/bot/list")
    deleted = sdk.call("POST", f"/bot/{bot['id']}/delete", {})

    assert fetched["name"] == "sdk bot"
    assert bot["id"] in {item["id"] for item in listed["items"]}
    assert deleted == {"id": bot["id"]}
    with pytest.raises(SdkError) as missing:
        sdk.call("GET", f"/bot/{bot['id']}/fetch")
    assert (missing.value.status, missing.value.code) == (404, "NOT_FOUND")


def test_a_stateful_conversation_streams_as_the_sdks_read_it(sdk):
    bot = sdk.call("POST", "/bot/create", {"name": "talker"})
    conversation = sdk.call("POST", "/conversation/create", {"botId": bot["id"]})

    events = list(sdk.stream(f"/conversation/{conversation['id']}/complete", {"text": "Hi"}))
    messages = sdk.call("GET", f"/conversation/{conversation['id']}/message/list")

    text = "".join(e["data"]["token"] for e in events if e["type"] == "token")
    assert events[-1]["type"] == "result"
    assert events[-1]["data"]["text"] == text
    assert [m["type"] for m in messages["items"]] == ["user", "bot"]


def test_a_stateless_completion_in_json_as_the_sdks_await_it(sdk):
    result = sdk.call(
        "POST", "/conversation/complete", {"messages": [{"type": "user", "text": "Hello"}]}
    )

    assert set(result) >= {"text", "usage", "end"}


def test_usage_of_the_tenant_as_a_partner_reads_it(sdk):
    usage = sdk.call("GET", "/usage/fetch")

    assert {"tokens", "conversations", "messages"} <= set(usage)
