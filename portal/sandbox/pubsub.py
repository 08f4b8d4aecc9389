"""Session-scoped channels with bounded replay (UPSTREAM.md §7).

The upstream keys a channel by `session[<session id>]:channel[<channelId>]`, so the same channel id
used with another token, or with the same token under another run-as child, is another channel.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from portal.sandbox.store import JsonObject

HISTORY_LIMIT = 1000
HISTORY_SECONDS = 3600


@dataclass
class Channel:
    history: deque[tuple[float, JsonObject]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_LIMIT)
    )
    subscribers: set[asyncio.Queue[JsonObject]] = field(default_factory=set)

    def prune(self) -> None:
        horizon = time.monotonic() - HISTORY_SECONDS
        while self.history and self.history[0][0] < horizon:
            self.history.popleft()


class ChannelHub:
    def __init__(self) -> None:
        self.channels: dict[tuple[str, str], Channel] = {}
        # Channels with a dispatch run in progress; a second stateful dispatch on the same
        # channel is deduplicated (UPSTREAM.md §7).
        self.running: set[tuple[str, str]] = set()

    def publish(self, session_id: str, channel_id: str, message: JsonObject) -> None:
        channel = self.channels.setdefault((session_id, channel_id), Channel())
        channel.prune()
        channel.history.append((time.monotonic(), message))
        for queue in channel.subscribers:
            queue.put_nowait(message)

    def subscribe(
        self, session_id: str, channel_id: str, history_length: int
    ) -> tuple[list[JsonObject], asyncio.Queue[JsonObject]]:
        channel = self.channels.setdefault((session_id, channel_id), Channel())
        channel.prune()
        replay = (
            [message for _, message in channel.history][-history_length:] if history_length else []
        )
        queue: asyncio.Queue[JsonObject] = asyncio.Queue()
        channel.subscribers.add(queue)
        return replay, queue

    def unsubscribe(
        self, session_id: str, channel_id: str, queue: asyncio.Queue[JsonObject]
    ) -> None:
        channel = self.channels.get((session_id, channel_id))
        if channel is None:
            return
        channel.subscribers.discard(queue)
        if not channel.subscribers and not channel.history:
            del self.channels[(session_id, channel_id)]

    def subscriber_count(self) -> int:
        return sum(len(channel.subscribers) for channel in self.channels.values())

    def clear(self) -> None:
        self.channels.clear()
        self.running.clear()
