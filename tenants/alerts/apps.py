from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    # An app of its own, like metering: its tables have their own migrations.
    name = "tenants.alerts"
    label = "alerts"
    verbose_name = "Usage alerts and webhooks"
