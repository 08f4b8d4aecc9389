"""Small builders for metering tests."""

from __future__ import annotations

import time
from typing import Any

from tenants.metering.buffer import UsageRecord


def usage_record(**overrides: Any) -> UsageRecord:
    fields: dict[str, Any] = {
        "account_id": 1,
        "token_id": "tok_test",
        "route": "/conversation/complete",
        "method": "POST",
        "status": 200,
        "error_code": "",
        "duration_ms": 12,
        "messages": 1,
        "conversations": 0,
        "tokens": 10,
        "input_tokens": 6,
        "output_tokens": 4,
        "estimated": False,
        "client_disconnected": False,
        "request_id": "req-1",
        "created_at": time.time(),
    }
    fields.update(overrides)
    return UsageRecord(**fields)
