from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    # An app of its own, like metering and alerts: its tables have their own migrations.
    name = "tenants.console"
    label = "console"
    verbose_name = "Streaming console and background conversations"
