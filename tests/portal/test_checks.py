from __future__ import annotations

from django.core.checks import Tags, run_checks
from django.test import override_settings


def _ids(**overrides) -> set[str]:
    with override_settings(**overrides):
        return {
            str(message.id)
            for message in run_checks(tags=[Tags.security], include_deployment_checks=True)
        }


def test_a_deployment_without_real_secrets_is_refused():
    ids = _ids(
        SECRET_KEY_CONFIGURED=False, ENCRYPTION_KEYS_CONFIGURED=False, TOKEN_PEPPER_CONFIGURED=False
    )
    assert {"portal.E001", "portal.E003", "portal.E004"} <= ids


def test_a_wildcard_host_and_debug_are_refused():
    assert {"portal.E002", "portal.E005"} <= _ids(PORTAL_OPERATOR_HOSTS=["*"], DEBUG=True)


def test_an_open_allowed_hosts_needs_the_host_check_middleware_first():
    with override_settings(MIDDLEWARE=["django.middleware.security.SecurityMiddleware"]):
        assert "portal.E006" in {str(m.id) for m in run_checks(tags=[Tags.security])}
    with override_settings(
        ALLOWED_HOSTS=["portal.example.com"],
        MIDDLEWARE=["django.middleware.security.SecurityMiddleware"],
    ):
        assert "portal.E006" not in {str(m.id) for m in run_checks(tags=[Tags.security])}
    assert "portal.E006" not in {str(m.id) for m in run_checks(tags=[Tags.security])}


def test_a_configured_deployment_passes_the_portal_checks():
    ids = _ids(
        SECRET_KEY_CONFIGURED=True,
        ENCRYPTION_KEYS_CONFIGURED=True,
        TOKEN_PEPPER_CONFIGURED=True,
        PORTAL_OPERATOR_HOSTS=["portal.example.com"],
        DEBUG=False,
        DATABASE_URL="postgres://x",
        REDIS_URL="redis://x",
        PORTAL_HTTPS=True,
    )
    assert not {i for i in ids if i.startswith("portal.")}


def test_the_deploy_checks_stay_out_of_ordinary_runs():
    with override_settings(SECRET_KEY_CONFIGURED=False):
        assert not {
            m.id for m in run_checks(tags=[Tags.security]) if m.id and m.id.startswith("portal.")
        }
