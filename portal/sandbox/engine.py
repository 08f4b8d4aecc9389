"""The made-up "model": deterministic replies, a toy tokenizer and the engine event script.

Replies are built from the input and say they come from the sandbox, so nobody mistakes them for
model output in a demo. The same input always gives the same reply and the same token counts, which
keeps tests and benchmarks repeatable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portal.sandbox.store import JsonObject

DEFAULT_MODEL = "gpt-5.4"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_PIECE = re.compile(r"\s*\S+")
# `[sandbox:words=N]` in the user's text pads the reply to about N words, so benchmarks can ask
# for long streams without a special endpoint.
_WORDS_DIRECTIVE = re.compile(r"\[sandbox:words=(\d{1,5})\]")
_ECHO_LIMIT = 200
_FILLER = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor").split()  # noqa: SIM905 - a sentence reads better than a list of words


def count_tokens(text: str) -> int:
    """Words and punctuation marks: close enough to a real tokenizer for usage accounting."""
    return len(_TOKEN.findall(text))


def split_pieces(text: str) -> list[str]:
    """Stream chunks: each word with the whitespace before it, so joining them gives the text."""
    return _PIECE.findall(text)


def model_name(model: Any) -> str:
    # "gpt-5.4/temperature=0.2" -> "gpt-5.4": parameters are not part of the model name.
    return str(model).split("/", 1)[0] if model else DEFAULT_MODEL


def make_reply(messages: list[JsonObject]) -> str:
    user_texts = [str(m.get("text", "")) for m in messages if m.get("type") == "user"]
    last = user_texts[-1].strip() if user_texts else ""
    disclaimer = "This reply was made up by the offline sandbox; no model was called."
    if not last:
        reply = f"[sandbox] Hello! {disclaimer}"
    else:
        echo = last if len(last) <= _ECHO_LIMIT else last[:_ECHO_LIMIT] + "…"
        reply = f'[sandbox] You said: "{echo}". {disclaimer}'
    wanted = _WORDS_DIRECTIVE.search(last)
    if wanted:
        missing = int(wanted.group(1)) - len(reply.split())
        reply += "".join(f" {_FILLER[i % len(_FILLER)]}" for i in range(max(missing, 0)))
    return reply


@dataclass(frozen=True)
class Completion:
    model: str
    reply: str
    input_tokens: int

    @property
    def output_tokens(self) -> int:
        return count_tokens(self.reply)

    @property
    def billed_tokens(self) -> int:
        # Billing tokens are input x ratio + output x ratio upstream; the sandbox's ratios are 1.
        return self.input_tokens + self.output_tokens


def plan_completion(
    messages: list[JsonObject], model: Any = None, backstory: Any = None
) -> Completion:
    prompt = " ".join(str(m.get("text", "")) for m in messages)
    input_tokens = count_tokens(prompt) + count_tokens(str(backstory or ""))
    return Completion(model_name(model), make_reply(messages), input_tokens)


def engine_events(completion: Completion) -> list[JsonObject]:
    """The completion engine's part of a stream (UPSTREAM.md §6.4), without results or dates."""
    events: list[JsonObject] = [{"type": "completeBegin", "data": {"iteration": 1}}]
    events += [
        {"type": "token", "data": {"token": piece}} for piece in split_pieces(completion.reply)
    ]
    events += [
        {"type": "message", "data": {"type": "bot", "text": completion.reply}},
        {
            "type": "usage",
            "data": {
                "model": completion.model,
                "inputTokensUsed": completion.input_tokens,
                "outputTokensUsed": completion.output_tokens,
            },
        },
        {"type": "completeEnd", "data": {"iteration": 1, "reason": "stop"}},
    ]
    return events
