from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Partner Portal"

    def ready(self) -> None:
        # Registers the portal.E00x / W00x system checks.
        # Makes the project's Celery app the current one in every Django process, so that
        # `task.delay()` from web code goes to the configured broker. (Not imported from
        # portal/__init__.py: the sandbox lives in this package and must not load Celery.)
        from portal import (
            celery,  # noqa: F401
            checks,  # noqa: F401
        )
