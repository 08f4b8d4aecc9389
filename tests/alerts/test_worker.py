"""The beat task on a real Celery worker process, against this run's (committed) database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.celery import app as celery_app
from tenants.alerts.models import ThresholdAlert
from tests.alerts.conftest import set_quotas, use
from tests.factories import make_world
from tests.processes import celery_worker, wait_for


@pytest.mark.django_db(transaction=True)
def test_the_threshold_task_runs_on_a_real_worker():
    world = make_world()
    tenant = world.a_child
    set_quotas(tenant, messages=10)
    use(tenant, timezone.now() - timedelta(seconds=5), messages=5)
    alerts = ThresholdAlert.objects.filter(account=tenant)
    celery_app.conf.task_always_eager = False  # sent by name to the worker (reset after)

    with celery_worker() as worker:
        try:
            celery_app.send_task("tenants.alerts.tasks.check_thresholds")
            wait_for(alerts.exists, 60, "the 50 % alert")
        except AssertionError:
            worker.terminate()
            output = worker.stdout.read().decode() if worker.stdout else ""
            raise AssertionError(output[-4000:]) from None

    assert list(alerts.values_list("quota", "threshold", "used", "limit")) == [
        ("messages", 50, 5, 10)
    ]
