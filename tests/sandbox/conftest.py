"""Fixtures for the sandbox contract tests: a client, a child, and another partner."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.sandbox import Parent, Sandbox
from tests.sandbox.client import Api


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as client:
        yield client


@pytest.fixture
def api(http: httpx.Client, sandbox_parent: Parent) -> Api:
    return Api(http, sandbox_parent.secret)


@pytest.fixture
def child(sandbox: Sandbox, sandbox_parent: Parent) -> str:
    return sandbox.create_child(sandbox_parent, "Child", email="child@example.com")


@pytest.fixture
def child_api(api: Api, child: str) -> Api:
    return api.as_child(child)


@pytest.fixture
def other_parent_api(http: httpx.Client, sandbox: Sandbox) -> Api:
    return Api(http, sandbox.create_parent("Another partner").secret)
