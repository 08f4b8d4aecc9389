"""The targets of a run and the calls the scenarios make to them (raw HTTP/1.1 messages)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench.gateway.loadgen import http_request

DIRECT, PORTAL, NGINX, LITELLM = "direct", "portal", "nginx", "litellm"
# The stub reached directly on its OpenAI-shaped route: LiteLLM's baseline.
DIRECT_OPENAI = "direct-openai"
OPENAI_SHAPED = (LITELLM, DIRECT_OPENAI)
LITELLM_MODEL = "bench"


@dataclass(frozen=True, slots=True)
class Target:
    """A way to reach the stub: directly, or through one gateway."""

    name: str
    port: int
    token: str = ""  # the bearer a gateway wants (the portal's ppk_, LiteLLM's master key)
    pid: int = 0  # the gateway's process, for memory and sockets (0: the stub itself)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, token: str | None = None) -> dict[str, str]:
        bearer = self.token if token is None else token
        return {"Authorization": f"Bearer {bearer}"} if bearer else {}


# The plain call: a ~1 KB JSON list page, GET, no body (what "added latency" is measured on).
LIST_PATH = "/v1/bot/list"
COMPLETE_PATH = "/v1/conversation/complete"
CHAT_PATH = "/v1/chat/completions"
COMPLETE_BODY = json.dumps({"messages": [{"type": "user", "text": "hi"}]})
CHAT_BODY = json.dumps({"model": LITELLM_MODEL, "messages": [{"role": "user", "content": "hi"}]})


def list_call(target: Target, token: str | None = None) -> bytes:
    return http_request("GET", LIST_PATH, headers=target.headers(token))


def complete_call(target: Target) -> bytes:
    """A non-streamed completion (JSON) in the upstream's shape."""
    headers = {**target.headers(), "Content-Type": "application/json"}
    return http_request("POST", COMPLETE_PATH, headers=headers, body=COMPLETE_BODY.encode())


def completion_call(target: Target) -> bytes:
    """The completion each target speaks: OpenAI's for LiteLLM, the upstream's for the rest."""
    return chat_call(target) if target.name in OPENAI_SHAPED else complete_call(target)


def plain_call(kind: str, target: Target) -> bytes:
    return list_call(target) if kind == "list" else completion_call(target)


def call_route(kind: str, target: Target) -> tuple[str, str, str]:
    """(method, path, body) of a plain call, for wrk."""
    if kind == "list":
        return "GET", LIST_PATH, ""
    if target.name in OPENAI_SHAPED:
        return "POST", CHAT_PATH, CHAT_BODY
    return "POST", COMPLETE_PATH, COMPLETE_BODY


def chat_call(target: Target) -> bytes:
    """A non-streamed completion in OpenAI's shape (the stub's variant, or LiteLLM)."""
    headers = {**target.headers(), "Content-Type": "application/json"}
    return http_request("POST", CHAT_PATH, headers=headers, body=CHAT_BODY.encode())


def stream_path(*, tokens: int, gap_ms: float, sid: str = "") -> str:
    path = f"{COMPLETE_PATH}?tokens={tokens}&gap={gap_ms:g}"
    return f"{path}&sid={sid}" if sid else path


def stream_call(
    target: Target, *, tokens: int, gap_ms: float, sid: str = "", token: str | None = None
) -> bytes:
    """A streamed completion (JSONL) of ``tokens`` tokens ``gap_ms`` apart."""
    headers = {
        **target.headers(token),
        "Content-Type": "application/json",
        "Accept": "application/jsonl",
    }
    path = stream_path(tokens=tokens, gap_ms=gap_ms, sid=sid)
    return http_request("POST", path, headers=headers, body=COMPLETE_BODY.encode())
