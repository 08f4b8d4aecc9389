"""In-memory state of the sandbox, with an optional JSON snapshot.

Everything lives in one process (the sandbox is never run with several workers), so plain dicts
are enough and every mutation is synchronous: no request can observe half a change. The snapshot
is written on shutdown and read at start so that demo data survives `make run` restarts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

_BASE36 = string.digits + string.ascii_lowercase
_id_counter = itertools.count(int.from_bytes(secrets.token_bytes(2)))


def now_ms() -> int:
    return int(time.time() * 1000)


def _base36(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


def new_id() -> str:
    """A cuid-like id: `c`, time, a counter, randomness; 25 lowercase characters.

    Time and counter come first so ids created later sort later, which keeps list order stable
    for records created within the same millisecond.
    """
    stamp = _base36(now_ms(), 8)
    count = _base36(next(_id_counter), 4)
    noise = "".join(secrets.choice(_BASE36) for _ in range(12))
    return f"c{stamp}{count}{noise}"


def new_secret() -> str:
    """An API secret as the upstream issues them: `sk-` and 64 hex characters."""
    return "sk-" + secrets.token_hex(32)


def digest(secret: str) -> str:
    # Like the upstream, only a digest of a secret is kept; the value is shown once.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Record:
    """One stored row. `owner_id` is the parent (users), user (tokens, bots, conversations,
    contexts) or conversation (messages) the record belongs to."""

    id: str
    kind: str
    owner_id: str
    created_at: int
    updated_at: int
    fields: JsonObject = field(default_factory=dict)

    def as_json(self, *names: str) -> JsonObject:
        """The record as the API shows it: id, dates, then `names` with `null` for unset."""
        data: JsonObject = {"id": self.id}
        for name in names:
            data[name] = self.fields.get(name)
        data["createdAt"] = self.created_at
        data["updatedAt"] = self.updated_at
        return data


@dataclass
class UsageCounter:
    tokens: int = 0
    conversations: int = 0
    messages: int = 0

    def add(self, other: UsageCounter) -> None:
        self.tokens += other.tokens
        self.conversations += other.conversations
        self.messages += other.messages


DAY_MS = 86_400_000


class Store:
    """All records plus the indexes the handlers need."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        # (kind, owner_id) -> {id: record}; dicts keep insertion (= creation) order.
        self.by_owner: dict[tuple[str, str], dict[str, Record]] = {}
        # sha256(secret) -> token record id.
        self.secret_index: dict[str, str] = {}
        # user id -> UTC day (ms) -> counter; the usage endpoints sum these.
        self.usage: dict[str, dict[int, UsageCounter]] = {}
        # conversation or bot id -> counter, for the per-resource usage endpoints.
        self.resource_usage: dict[str, UsageCounter] = {}
        # Signs session JWTs; kept in the snapshot so issued sessions survive a restart.
        self.jwt_key = secrets.token_hex(32)

    # -- records -------------------------------------------------------------------------

    def add(
        self, kind: str, owner_id: str, fields: JsonObject, record_id: str | None = None
    ) -> Record:
        stamp = now_ms()
        record = Record(record_id or new_id(), kind, owner_id, stamp, stamp, dict(fields))
        self._index(record)
        return record

    def _index(self, record: Record) -> None:
        self.records[record.id] = record
        self.by_owner.setdefault((record.kind, record.owner_id), {})[record.id] = record

    def get(self, kind: str, record_id: str) -> Record | None:
        record = self.records.get(record_id)
        return record if record is not None and record.kind == kind else None

    def owned(self, kind: str, owner_id: str) -> list[Record]:
        return list(self.by_owner.get((kind, owner_id), {}).values())

    def update(self, record: Record, fields: JsonObject) -> None:
        record.fields.update(fields)
        record.updated_at = max(now_ms(), record.updated_at)

    def delete(self, record: Record) -> None:
        """Delete a record and everything it owns (users own bots, conversations own messages)."""
        for (_kind, owner), children in list(self.by_owner.items()):
            if owner == record.id:
                for child in list(children.values()):
                    self.delete(child)
        self.records.pop(record.id, None)
        bucket = self.by_owner.get((record.kind, record.owner_id))
        if bucket is not None:
            bucket.pop(record.id, None)
        if record.kind == "token":
            self.secret_index.pop(record.fields.get("digest", ""), None)
        self.usage.pop(record.id, None)
        self.resource_usage.pop(record.id, None)

    # -- secrets ---------------------------------------------------------------------------

    def add_secret(self, user_id: str, secret: str, fields: JsonObject) -> Record:
        token = self.add("token", user_id, {**fields, "digest": digest(secret)})
        self.secret_index[digest(secret)] = token.id
        return token

    def token_for_secret(self, secret: str) -> Record | None:
        token_id = self.secret_index.get(digest(secret))
        return self.records.get(token_id) if token_id else None

    # -- usage -----------------------------------------------------------------------------

    def record_usage(self, user_id: str, amount: UsageCounter, *resource_ids: str | None) -> None:
        day = now_ms() // DAY_MS * DAY_MS
        self.usage.setdefault(user_id, {}).setdefault(day, UsageCounter()).add(amount)
        for resource_id in resource_ids:
            if resource_id:
                self.resource_usage.setdefault(resource_id, UsageCounter()).add(amount)

    def usage_since(self, user_id: str, since_ms: int) -> UsageCounter:
        total = UsageCounter()
        for day, counter in self.usage.get(user_id, {}).items():
            if day >= since_ms:
                total.add(counter)
        return total

    # -- snapshot --------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for record in self.records.values():
            tally[record.kind] = tally.get(record.kind, 0) + 1
        return tally

    def to_snapshot(self) -> JsonObject:
        return {
            "version": 1,
            "jwtKey": self.jwt_key,
            "records": [asdict(record) for record in self.records.values()],
            "secretIndex": self.secret_index,
            "usage": {
                user: {str(day): asdict(counter) for day, counter in days.items()}
                for user, days in self.usage.items()
            },
            "resourceUsage": {key: asdict(value) for key, value in self.resource_usage.items()},
        }

    def load_snapshot(self, data: JsonObject) -> None:
        self.jwt_key = str(data["jwtKey"])
        for row in sorted(data["records"], key=lambda row: (row["created_at"], row["id"])):
            self._index(Record(**row))
        self.secret_index = dict(data["secretIndex"])
        self.usage = {
            user: {int(day): UsageCounter(**counter) for day, counter in days.items()}
            for user, days in data["usage"].items()
        }
        self.resource_usage = {
            key: UsageCounter(**value) for key, value in data["resourceUsage"].items()
        }


def save_snapshot(store: Store, path: Path) -> None:
    # Write then rename, so a crash mid-write never leaves a truncated file to load next time.
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(path.suffix + ".tmp")
    scratch.write_text(json.dumps(store.to_snapshot()))
    os.replace(scratch, path)


def load_snapshot(store: Store, path: Path) -> bool:
    if not path.exists():
        return False
    store.load_snapshot(json.loads(path.read_text()))
    return True
