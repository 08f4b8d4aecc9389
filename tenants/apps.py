from __future__ import annotations

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Accounts and tenants"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from tenants.middleware import end_support_session_on_logout

        user_logged_out.connect(end_support_session_on_logout, dispatch_uid="support-logout")
