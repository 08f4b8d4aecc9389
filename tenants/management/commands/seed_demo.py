"""Demo data for ``make run``: a partner ``demo`` on the bundled sandbox, a few tenants, a login.

The demo partner has a brand of its own on ``demo.localhost`` (browsers send any ``*.localhost``
to this machine), so ``make run`` shows white-labelling without any DNS.

Runs on every start and does its work once. The sandbox keeps its state in
``var/sandbox-state.json``; if that was deleted while the portal's database was kept, the demo
partner's secret and tenants are re-registered with the sandbox under the same ids, so the two
stay in step.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.env import local_secret
from portal.upstream import UpstreamHTTPError, run_sync
from portal.upstream.sandbox import SandboxControl
from tenants import crypto
from tenants.models import Account
from tenants.services import create_partner, onboard_tenant, update_brand

DEMO_HOST = "demo.localhost"
DEMO_BRAND = {
    "product_name": "Demo Cloud",
    "primary_color": "#0f766e",
    "accent_color": "#f59e0b",
    "support_email": "support@demo.example",
    "footer_text": "Demo Cloud is the demo partner's white-labelled portal.",
}
DEMO_TENANTS = [
    # (name, e-mail, parent name or None for the partner)
    ("Acme Corp", "ops@acme.example", None),
    ("Globex", "it@globex.example", None),
    ("Acme Labs", "labs@acme.example", "Acme Corp"),
]


class Command(BaseCommand):
    help = "Create the demo partner, tenants and operator login once (used by `make run`)."

    def handle(self, *args: Any, **options: Any) -> None:
        sandbox = SandboxControl(settings.SANDBOX_URL)
        demo = Account.objects.partners().filter(slug="demo").first()
        if demo is None:
            demo = self._create(sandbox)
        elif not self._upstream_knows(demo):
            self._relink(sandbox, demo)
        password = self._operator_login()
        secret = crypto.decrypt(demo.upstream_secret_encrypted)
        self.stdout.write(
            "\n  Demo data is ready.\n"
            f"  Log in at http://127.0.0.1:{settings.PORTAL_PORT}/ as  admin / {password}\n"
            f"  The demo partner's branded portal: http://{DEMO_HOST}:{settings.PORTAL_PORT}/\n"
            f"  Demo parent secret on the sandbox ({settings.SANDBOX_URL}): {secret}\n"
        )

    def _create(self, sandbox: SandboxControl) -> Account:
        parent = sandbox.create_parent(name="Demo Partner")
        demo = create_partner(
            name="Demo Partner",
            slug="demo",
            email="partner@demo.example",
            upstream_base_url=settings.SANDBOX_URL,
            upstream_secret=parent["secret"],
        )
        update_brand(demo, changes=DEMO_BRAND, hosts=[DEMO_HOST], actor=None)
        made: dict[str, Account] = {}
        for name, email, parent_name in DEMO_TENANTS:
            under = made[parent_name] if parent_name else demo
            made[name] = onboard_tenant(parent=under, name=name, email=email)
        self.stdout.write(f"Created the demo partner and {len(made)} tenants.")
        return demo

    def _upstream_knows(self, demo: Account) -> bool:
        connection = demo.upstream_connection()
        try:
            run_sync(lambda client: client.request_json(connection, "GET", "/v1/usage/fetch"))
        except UpstreamHTTPError as exc:
            if exc.status == 401:
                return False
            raise
        return True

    def _relink(self, sandbox: SandboxControl, demo: Account) -> None:
        secret = crypto.decrypt(demo.upstream_secret_encrypted)
        parent = sandbox.create_parent(name=demo.name, secret=secret)
        tenants = Account.objects.subtree_of(demo).exclude(pk=demo.pk).order_by("path")
        for tenant in tenants:
            sandbox.import_child(
                parent_id=parent["id"],
                child_id=tenant.public_id,
                name=tenant.name,
                email=tenant.email,
            )
        self.stdout.write(
            f"Re-registered the demo partner and {len(tenants)} tenants with the sandbox."
        )

    def _operator_login(self) -> str:
        password = local_secret(settings.LOCAL_SECRETS_DIR, "demo-admin-password")
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                username="admin", defaults={"email": "admin@demo.example"}
            )
            if created:
                user.is_staff = True
                user.is_superuser = True
                user.set_password(password)
                user.save()
            elif not user.check_password(password):
                return "(the password you set)"
        return password
