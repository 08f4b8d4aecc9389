"""Settings load from the environment in a fresh interpreter, exactly as a deployment would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

DUMP = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'debug': settings.DEBUG, 'db': settings.DATABASES['default']['ENGINE'],"
    "'cache': settings.CACHES['default']['BACKEND'], 'broker': settings.CELERY_BROKER_URL,"
    "'secret_configured': settings.SECRET_KEY_CONFIGURED}))"
)


def _load(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PORTAL_", "DATABASE_", "REDIS_", "CELERY_"))
    }
    clean |= {"DJANGO_SETTINGS_MODULE": "portal.settings", "PORTAL_VAR_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", DUMP],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
        cwd=settings.BASE_DIR,
    )


def test_the_embedded_profile_needs_no_configuration(tmp_path):
    result = _load(tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded == {
        "debug": False,
        "db": "django.db.backends.sqlite3",
        "cache": "django.core.cache.backends.db.DatabaseCache",
        "broker": "filesystem://localhost/",
        "secret_configured": False,
    }
    # The generated secrets live under var/, never in the repository.
    assert sorted(p.name for p in (tmp_path / "secrets").iterdir()) == [
        "django-secret-key.secret",
        "encryption-key.secret",
        "token-pepper.secret",
    ]


def test_the_production_profile_comes_from_the_urls(tmp_path):
    result = _load(
        tmp_path,
        DATABASE_URL="postgres://u@127.0.0.1:5432/portal",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DJANGO_SECRET_KEY="x" * 60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["db"] == "django.db.backends.postgresql"
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["broker"] == "redis://127.0.0.1:6379/3"
    assert loaded["secret_configured"] is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_DEBUG", "yes", "DJANGO_DEBUG must be 'true' or 'false'"),
        ("SANDBOX_PORT", "eighty", "SANDBOX_PORT must be a whole number"),
        ("PORTAL_LOG_LEVEL", "LOUD", "PORTAL_LOG_LEVEL must be"),
        ("DATABASE_URL", "nonsense://x", "DATABASE_URL is not a usable database URL"),
        ("PORTAL_BRAND_PRIMARY_COLOR", "blue", "PORTAL_BRAND_PRIMARY_COLOR must be a colour"),
        ("PORTAL_BRAND_NAME", "Two\nlines", "PORTAL_BRAND_NAME must be one line"),
        ("PORTAL_BRAND_SUPPORT_EMAIL", "help", "PORTAL_BRAND_SUPPORT_EMAIL must be an e-mail"),
        ("PORTAL_BRAND_LOGO_URL", "http://x/logo.png", "PORTAL_BRAND_LOGO_URL must be a path"),
    ],
)
def test_nonsense_in_the_environment_stops_the_process_with_its_name(
    tmp_path, name, value, message
):
    result = _load(tmp_path, **{name: value})
    assert result.returncode != 0
    assert message in result.stderr
