"""Settings for Partner Portal: one file, every value from the environment.

Two profiles, chosen by what is configured rather than by a switch:
- embedded (nothing set): SQLite, database-backed cache/counters, a file-system Celery broker and
  generated local secrets, all under ``var/``;
- production: ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL``, ``CELERY_BROKER_URL`` and real secrets,
  enforced by the ``portal.E00x`` deploy checks (``manage.py check --deploy``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext

from portal.env import (
    ConfigError,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    local_secret,
)

# Lets generic classes such as ModelAdmin[Account] be subscripted at run time, as the type
# stubs want them written.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR") or BASE_DIR / "var")
LOCAL_SECRETS_DIR = VAR_DIR / "secrets"

DEBUG = env_bool("DJANGO_DEBUG", False)

# Secrets. Each is read from NAME or NAME_FILE; when absent (embedded profile) a value is generated
# once under var/secrets/ and the deploy checks in portal/checks.py flag it.
_secret_key = env_secret("DJANGO_SECRET_KEY")
SECRET_KEY_CONFIGURED = bool(_secret_key)
SECRET_KEY = _secret_key or local_secret(LOCAL_SECRETS_DIR, "django-secret-key")

# Fernet keys for upstream secrets at rest, newest first (comma-separated): the first encrypts,
# all decrypt, so keys can be rotated without re-entering every partner's secret.
_encryption_keys = env_secret("PORTAL_ENCRYPTION_KEYS")
ENCRYPTION_KEYS_CONFIGURED = bool(_encryption_keys)
PORTAL_ENCRYPTION_KEYS = [
    key.strip()
    for key in (
        _encryption_keys or local_secret(LOCAL_SECRETS_DIR, "encryption-key", "fernet")
    ).split(",")
    if key.strip()
]

# Server pepper for the keyed hash (HMAC-SHA256) of portal tokens.
_token_pepper = env_secret("PORTAL_TOKEN_PEPPER")
TOKEN_PEPPER_CONFIGURED = bool(_token_pepper)
PORTAL_TOKEN_PEPPER = _token_pepper or local_secret(LOCAL_SECRETS_DIR, "token-pepper")

# Host names. The operator's own come from DJANGO_ALLOWED_HOSTS (Django's pattern syntax:
# ".example.com" is the domain and its subdomains). Partners add their own custom hosts on their
# Branding page, at run time, so Django's static check cannot know them: it is switched off here
# and done instead by tenants.branding.middleware.HostCheckMiddleware, the first middleware, which
# answers 400 to any Host that is neither the operator's nor a partner's registered host before
# anything reads it. portal.E006 refuses to start without that middleware in first place.
PORTAL_OPERATOR_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
ALLOWED_HOSTS = ["*"]
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Behind TLS in production: secure cookies and HSTS. Off by default because the embedded profile
# serves plain http://127.0.0.1.
PORTAL_HTTPS = env_bool("PORTAL_HTTPS", False)
SESSION_COOKIE_SECURE = PORTAL_HTTPS
CSRF_COOKIE_SECURE = PORTAL_HTTPS
SECURE_SSL_REDIRECT = PORTAL_HTTPS and env_bool("PORTAL_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("PORTAL_HSTS_SECONDS", 31536000 if PORTAL_HTTPS else 0, minimum=0)
if env_bool("PORTAL_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "portal",
    "tenants",
    "tenants.metering",
    "tenants.alerts",
    "tenants.console",
]

MIDDLEWARE = [
    # First: nothing may read a Host header before it is checked (see PORTAL_OPERATOR_HOSTS).
    "tenants.branding.middleware.HostCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After authentication, messages and htmx: binds a support session to request.user.
    "tenants.middleware.ImpersonationMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.acting",
                # ``brand``: the partner's brand (or the operator's) for every page.
                "tenants.branding.context_processors.brand",
            ],
        },
    },
]

# Database: PostgreSQL from DATABASE_URL, else SQLite under var/.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES: dict[str, Any] = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
            )
        }
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is not a usable database URL: {exc}") from None
    DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME") or None}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": Path(env_str("PORTAL_SQLITE_PATH") or VAR_DIR / "portal.sqlite3"),
            # A file, not :memory:, so that the Celery worker and the portal processes that the
            # tests start can share the test database; one per test run, so that two runs at
            # once (two terminals, an editor's runner) never share it.
            "TEST": {
                "NAME": Path(
                    env_str("PORTAL_SQLITE_TEST_PATH")
                    or VAR_DIR / f"test-portal-{os.getpid()}.sqlite3"
                )
            },
            "OPTIONS": {
                # WAL lets the worker read while the portal writes; IMMEDIATE takes the write lock
                # at BEGIN so two writers queue instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache and shared state: Redis when REDIS_URL is set, else a database table (same semantics,
# slower). tenants/ code that needs atomic counters asks portal.state which backend is live.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES: dict[str, Any] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("PORTAL_CACHE_PREFIX", "portal"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "portal_cache",
        }
    }

# Celery: CELERY_BROKER_URL, else Redis, else kombu's file-system transport under var/ (no server).
CELERY_BROKER_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Exchange metadata; kombu's default is ./control, relative to wherever the worker started.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, Any] = {
    "heartbeat": {"task": "portal.tasks.heartbeat", "schedule": 60.0},
}
CELERY_TIMEZONE = "UTC"

# The bundled sandbox upstream (portal/sandbox/), used by `make run`, the demo data and the
# default of `create_partner` in the embedded profile.
SANDBOX_PORT = env_int("SANDBOX_PORT", 8001, minimum=1, maximum=65535)
PORTAL_PORT = env_int("PORTAL_PORT", 8000, minimum=1, maximum=65535)
SANDBOX_URL = env_str("PORTAL_SANDBOX_URL") or f"http://127.0.0.1:{SANDBOX_PORT}"

# Where people reach the portal, for links in e-mails (invitations, alerts).
PORTAL_BASE_URL = (env_str("PORTAL_BASE_URL") or f"http://127.0.0.1:{PORTAL_PORT}").rstrip("/")
if not PORTAL_BASE_URL.startswith(("http://", "https://")):
    raise ConfigError(
        f"PORTAL_BASE_URL must start with http:// or https://, not {PORTAL_BASE_URL!r}"
    )
PORTAL_INVITATION_DAYS = env_int("PORTAL_INVITATION_DAYS", 7, minimum=1, maximum=90)

# Outbound HTTP to the upstream (portal/upstream/).
UPSTREAM_CONNECT_TIMEOUT = env_int("UPSTREAM_CONNECT_TIMEOUT_SECONDS", 5, minimum=1)
# The upstream pings every 10 s during completions, so 60 s of silence means it is gone.
UPSTREAM_READ_TIMEOUT = env_int("UPSTREAM_READ_TIMEOUT_SECONDS", 75, minimum=15)
UPSTREAM_WRITE_TIMEOUT = env_int("UPSTREAM_WRITE_TIMEOUT_SECONDS", 30, minimum=1)
UPSTREAM_POOL_TIMEOUT = env_int("UPSTREAM_POOL_TIMEOUT_SECONDS", 10, minimum=1)
# Connections per event loop (per worker); a stream holds one for its whole length.
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 256, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

# Invitations and alerts print to the console unless a real mailer is configured.
MAILERS: dict[str, Any] = {
    "default": {
        "BACKEND": env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    }
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Partner Portal <portal@localhost>")

# The management API (tenants/api/): JSON only, errors as {message, code}, cursor pages.
# Permissions are not set here: tenants.api.base.ScopedViewSet owns them for every viewset.
REST_FRAMEWORK: dict[str, Any] = {
    # A portal API token (Authorization: Bearer ppk_…) first, else the page session (with CSRF).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api.authentication.PortalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [],
    "EXCEPTION_HANDLER": "tenants.api.errors.handle_exception",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# OpenAPI 3 for the management API at /api/v1/portal/schema/, Swagger UI at .../docs/ with its
# assets from drf-spectacular-sidecar (served by the portal: no CDN, works offline).
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Partner Portal management API",
    "DESCRIPTION": (
        "Accounts (partners and their tenants), memberships, invitations and the audit log. "
        "Every object is reached through your roles: an object outside your accounts is a 404, "
        "like one that does not exist. Errors are `{message, code}`; lists are cursor pages."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/portal/",
    "PREPROCESSING_HOOKS": ["tenants.api.schema.only_management_api"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "AccountStatus": "tenants.models.Account.Status",
        "Role": "tenants.models.Role",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOG_LEVEL = env_str("PORTAL_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ConfigError(
        f"PORTAL_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}"
    )
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # Every handler masks secrets, whatever logger the line came from.
        "redact_secrets": {"()": "portal.redaction.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # One line per request of the readiness probe in `make run` is noise.
        "httpx": {"level": "WARNING"},
    },
}

# The product's own settings (proxy, widget, tokens, metering, alerts, support, branding,
# console) live by area in portal/product_settings.py.
from portal.product_settings import *  # noqa: E402, F403
from portal.product_settings import BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE.update(BEAT_SCHEDULE)
