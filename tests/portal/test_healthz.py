from __future__ import annotations

import pytest
from django.core.cache import cache

from portal.tasks import HEARTBEAT_KEY, heartbeat
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.django_db


def test_it_reports_every_part_and_answers_200_when_the_portal_can_serve(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert set(body["checks"]) == {"database", "cache", "broker", "upstream"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_missing_worker_degrades_but_does_not_fail(client):
    cache.delete(HEARTBEAT_KEY)
    body = client.get("/healthz").json()
    assert body["checks"]["broker"]["worker"] == {"last_heartbeat_age_s": None, "alive": False}


def test_a_broken_database_answers_503(client, monkeypatch):
    from portal import health

    def broken() -> dict[str, object]:
        raise RuntimeError("connection refused")

    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert "connection refused" in response.json()["checks"]["database"]["error"]


def test_it_refuses_other_methods(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_a_real_celery_worker_runs_the_heartbeat_and_healthz_sees_it(client):
    cache.delete(HEARTBEAT_KEY)
    with celery_worker():
        heartbeat.delay()
        wait_for(lambda: cache.get(HEARTBEAT_KEY) is not None, 60, "the worker's heartbeat")
    worker = client.get("/healthz").json()["checks"]["broker"]["worker"]
    assert worker["alive"] is True
