"""Brands cost no queries once warm: not on the login page of a custom host, and not on a
tenant's page, whatever the host."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.branding import lookup
from tests.branding.conftest import A_HOST


@pytest.fixture(autouse=True)
def _slow_machine_proof(monkeypatch):
    # The epoch is re-read once a second; a loaded machine must not turn that into a query.
    monkeypatch.setattr(lookup, "CHECK_SECONDS", 60.0)


def test_the_login_page_on_a_custom_host_reads_nothing_once_warm(
    branded, client_for, django_assert_num_queries
):
    client = client_for("anonymous", host=A_HOST)
    client.get("/login/")
    with django_assert_num_queries(0):
        assert "Acme Cloud" in client.get("/login/").content.decode()


def test_a_tenant_page_costs_the_same_queries_on_a_custom_host_as_on_the_operators(
    branded, client_for
):
    url = f"/accounts/{branded.a_child.public_id}/"
    counts = {}
    for host in ("testserver", A_HOST):
        client = client_for("a_owner", host=host)
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts[host] = len(queries)
    assert counts["testserver"] == counts[A_HOST]
    assert not any("tenants_brand" in query["sql"] for query in queries.captured_queries)
