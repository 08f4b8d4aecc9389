from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Partner Portal"

    def ready(self) -> None:
        # Registers the portal.E00x / W00x system checks.
        from portal import checks  # noqa: F401
