"""The Celery app: `celery -A portal.celery worker|beat` (started by portal/runstack.py)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _prepare_filesystem_broker(sender: Celery, **kwargs: object) -> None:
    # kombu's file-system transport fails on a missing folder; the embedded profile must work
    # on a fresh machine, so the folders are made by whoever opens the broker first.
    from django.conf import settings

    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
        if folder:
            os.makedirs(folder, exist_ok=True)


@worker_ready.connect
def _report_ready(**kwargs: object) -> None:
    # /healthz shows a worker as alive from its start, not only after beat's first heartbeat.
    from portal.tasks import heartbeat

    heartbeat()
