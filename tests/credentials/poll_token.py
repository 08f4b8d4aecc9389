"""A second portal worker for the revocation test: ``python -m tests.credentials.poll_token``.

Authenticates ``PORTAL_TEST_TOKEN`` until it is refused, then prints when and why, and how many
queries on the token table it made after warming up (none: it learns of the revocation from
the shared store, not by asking the database).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.db import connection  # noqa: E402

from tenants.credentials import CredentialError, authenticate_sync  # noqa: E402

token_queries = 0


def count_token_queries(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
) -> Any:
    global token_queries
    if "tenants_token" in sql:
        token_queries += 1
    return execute(sql, params, many, context)


def main() -> None:
    raw = os.environ["PORTAL_TEST_TOKEN"]
    authenticate_sync(raw)
    with connection.execute_wrapper(count_token_queries):
        authenticate_sync(raw)
        print("ready", flush=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                authenticate_sync(raw)
            except CredentialError as error:
                print(f"refused {time.time():.6f} {error.reason} {token_queries}", flush=True)
                return
            time.sleep(0.005)
    print("never refused", flush=True)


if __name__ == "__main__":
    main()
