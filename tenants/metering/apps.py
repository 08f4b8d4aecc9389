from __future__ import annotations

from django.apps import AppConfig


class MeteringConfig(AppConfig):
    # An app of its own so that its tables have their own migrations, apart from the account
    # models that other work changes at the same time.
    name = "tenants.metering"
    label = "metering"
    verbose_name = "Usage metering"
