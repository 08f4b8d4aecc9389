"""Settings for Partner Portal: one file, every value from the environment.

Two profiles, chosen by what is configured rather than by a switch:
- embedded (nothing set): SQLite, database-backed cache/counters, a file-system Celery broker and
  generated local secrets, all under ``var/``;
- production: ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL``, ``CELERY_BROKER_URL`` and real secrets,
  enforced by the ``portal.E00x`` deploy checks (``manage.py check --deploy``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab

from portal.env import (
    ConfigError,
    env_bool,
    env_color,
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

# Proxy
# The lean proxy of /v1 and /api/v1 (tenants/proxy/).
# Request bodies above this are refused with 413 while they arrive (the upstream's own JSON
# bodies are small; attachments go by URL).
PROXY_MAX_BODY_BYTES = env_int("PROXY_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# The account tree (status, run-as targets, the partner's upstream connection): seconds in each
# worker's memory, then seconds in the shared cache. A warm call reads no database.
PROXY_ACCOUNT_CACHE_SECONDS = env_int("PROXY_ACCOUNT_CACHE_SECONDS", 5, minimum=1, maximum=300)
PROXY_ACCOUNT_SHARED_CACHE_SECONDS = env_int(
    "PROXY_ACCOUNT_SHARED_CACHE_SECONDS", 30, minimum=1, maximum=3600
)
# Idempotency-Key: answers kept for replay (24 h), how long a key stays claimed by a request in
# flight, how long a duplicate waits for it, and the largest answer kept.
PROXY_IDEMPOTENCY_TTL_SECONDS = env_int("PROXY_IDEMPOTENCY_TTL_SECONDS", 24 * 3600, minimum=60)
PROXY_IDEMPOTENCY_LOCK_SECONDS = env_int("PROXY_IDEMPOTENCY_LOCK_SECONDS", 300, minimum=5)
PROXY_IDEMPOTENCY_WAIT_SECONDS = env_int("PROXY_IDEMPOTENCY_WAIT_SECONDS", 30, minimum=1)
PROXY_IDEMPOTENCY_MAX_BYTES = env_int("PROXY_IDEMPOTENCY_MAX_BYTES", 1024 * 1024, minimum=1024)

# The chat widget (tenants/widget/): its stream /v1/chat/stream (alias /chat) and widget keys.
# A session's upstream conversation is remembered this long after its last message; a session
# that comes back later starts a new conversation.
WIDGET_CONVERSATION_TTL_SECONDS = env_int(
    "WIDGET_CONVERSATION_TTL_SECONDS", 24 * 3600, minimum=60, maximum=90 * 24 * 3600
)
# Requests per minute given to a new widget key, and to each chat session (sessionId) of a key,
# unless the key says otherwise.
WIDGET_KEY_RPM = env_int("WIDGET_KEY_RPM", 300, minimum=1)
WIDGET_SESSION_RPM = env_int("WIDGET_SESSION_RPM", 12, minimum=1)
# The longest message a visitor may send, in characters (the body is refused past 4x this).
WIDGET_MAX_MESSAGE_CHARS = env_int("WIDGET_MAX_MESSAGE_CHARS", 4000, minimum=1, maximum=100_000)

# Portal tokens (tenants/credentials/, tenants/services/tokens.py).
# How long the old value of a rotated token keeps working, unless the rotation says otherwise.
PORTAL_TOKEN_ROTATION_GRACE_SECONDS = env_int(
    "PORTAL_TOKEN_ROTATION_GRACE_SECONDS", 1800, minimum=0, maximum=7 * 24 * 3600
)
# How often each worker checks the shared revocation epoch. At most 1000: a revoked token must be
# refused by every worker within one second.
PORTAL_TOKEN_REVOCATION_CHECK_MS = env_int(
    "PORTAL_TOKEN_REVOCATION_CHECK_MS", 500, minimum=50, maximum=1000
)
CELERY_BEAT_SCHEDULE["flush-token-last-used"] = {
    "task": "tenants.tasks.flush_token_last_used",
    "schedule": 60.0,
}
# The database counters' idle rate windows (every widget visitor's session has one).
CELERY_BEAT_SCHEDULE["prune-rate-windows"] = {
    "task": "tenants.tasks.prune_rate_windows",
    "schedule": 600.0,
}

# Metering
# Usage of every proxied call (tenants/metering/). Each worker process buffers events in memory
# and writes them in batches: at most this many wait; past that new events are dropped, counted
# and logged (never waited on). A batch goes out every interval, or at once when it is full.
METERING_BUFFER_MAX_EVENTS = env_int("METERING_BUFFER_MAX_EVENTS", 20_000, minimum=100)
METERING_FLUSH_BATCH = env_int("METERING_FLUSH_BATCH", 500, minimum=1, maximum=5_000)
METERING_FLUSH_INTERVAL_MS = env_int("METERING_FLUSH_INTERVAL_MS", 500, minimum=10, maximum=60_000)
# Raw events are kept this many days (rollups are kept). Rollups recompute every hour bucket of
# the last METERING_ROLLUP_LOOKBACK_HOURS, and any older bucket that received a late event in
# that time; the lookback must stay well inside the retention.
METERING_RAW_RETENTION_DAYS = env_int("METERING_RAW_RETENTION_DAYS", 30, minimum=2, maximum=3650)
METERING_ROLLUP_LOOKBACK_HOURS = env_int("METERING_ROLLUP_LOOKBACK_HOURS", 6, minimum=1, maximum=47)
# Nightly reconciliation: a child whose portal totals differ from the upstream's by more than
# this percentage on any unit (tokens, messages, conversations) is flagged and logged.
METERING_RECONCILE_TOLERANCE_PERCENT = env_int(
    "METERING_RECONCILE_TOLERANCE_PERCENT", 2, minimum=0, maximum=100
)
CELERY_BEAT_SCHEDULE["metering-rollup"] = {
    "task": "tenants.metering.tasks.rollup_usage",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["metering-retention"] = {
    "task": "tenants.metering.tasks.purge_usage_events",
    "schedule": crontab(hour=3, minute=15),
}
# Late in the UTC day rather than just after midnight: the upstream's usage/fetch covers the
# current calendar month, and a run at 00:xx on the 1st would compare two empty periods.
CELERY_BEAT_SCHEDULE["metering-reconcile"] = {
    "task": "tenants.metering.tasks.reconcile_usage",
    "schedule": crontab(hour=23, minute=40),
}

# Alerts
# Usage alerts (tenants/alerts/): at each of ALERTS_THRESHOLDS percent of a period quota, once per
# period, account and quota: an e-mail to the account's owners and admins, and a signed POST to
# each of its webhook endpoints. Checked by beat every minute.
ALERTS_THRESHOLDS = (50, 80, 100)
# Webhook deliveries: attempts time out after this many seconds; network errors, 5xx and 429 are
# retried up to ALERTS_WEBHOOK_MAX_RETRIES times, waiting BACKOFF * 2**n seconds (capped).
ALERTS_WEBHOOK_TIMEOUT_SECONDS = env_int(
    "ALERTS_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1, maximum=60
)
ALERTS_WEBHOOK_MAX_RETRIES = env_int("ALERTS_WEBHOOK_MAX_RETRIES", 6, minimum=0, maximum=20)
ALERTS_WEBHOOK_BACKOFF_SECONDS = env_int("ALERTS_WEBHOOK_BACKOFF_SECONDS", 30, minimum=1)
ALERTS_WEBHOOK_BACKOFF_MAX_SECONDS = env_int("ALERTS_WEBHOOK_BACKOFF_MAX_SECONDS", 3600, minimum=1)
# Receivers should refuse a signature whose timestamp is further than this from their clock.
ALERTS_WEBHOOK_TOLERANCE_SECONDS = 300
# Webhook URLs resolving to private, loopback or link-local addresses are refused unless this is
# true: the default in the embedded profile (local development and tests post to 127.0.0.1),
# false as soon as DATABASE_URL is set (a deployment), where the portal must not be turned
# into a probe of its own network.
PORTAL_WEBHOOK_ALLOW_PRIVATE = env_bool("PORTAL_WEBHOOK_ALLOW_PRIVATE", not DATABASE_URL)
CELERY_BEAT_SCHEDULE["alerts-thresholds"] = {
    "task": "tenants.alerts.tasks.check_thresholds",
    "schedule": 60.0,
}

# Support impersonation
# A person acting as a tenant (tenants/services/impersonation.py): a session lasts this many
# minutes unless they choose another length, at most the maximum. Beat marks forgotten
# sessions as expired every minute.
PORTAL_SUPPORT_SESSION_MINUTES = env_int(
    "PORTAL_SUPPORT_SESSION_MINUTES", 30, minimum=1, maximum=24 * 60
)
PORTAL_SUPPORT_SESSION_MAX_MINUTES = env_int(
    "PORTAL_SUPPORT_SESSION_MAX_MINUTES", 120, minimum=1, maximum=24 * 60
)
if PORTAL_SUPPORT_SESSION_MINUTES > PORTAL_SUPPORT_SESSION_MAX_MINUTES:
    raise ConfigError(
        f"PORTAL_SUPPORT_SESSION_MINUTES ({PORTAL_SUPPORT_SESSION_MINUTES}) is longer than "
        f"PORTAL_SUPPORT_SESSION_MAX_MINUTES ({PORTAL_SUPPORT_SESSION_MAX_MINUTES})"
    )
CELERY_BEAT_SCHEDULE["support-sessions-expire"] = {
    "task": "tenants.tasks.end_expired_support_sessions",
    "schedule": 60.0,
}
# Branding
# The operator's own brand: shown on the operator's hosts to people of no single partner, on
# operator pages, and for every partner that has not set its own (tenants/branding/).
PORTAL_BRAND_NAME = env_str("PORTAL_BRAND_NAME", "Partner Portal")
if not PORTAL_BRAND_NAME or len(PORTAL_BRAND_NAME) > 60 or not PORTAL_BRAND_NAME.isprintable():
    raise ConfigError("PORTAL_BRAND_NAME must be one line of 1 to 60 printable characters")
PORTAL_BRAND_PRIMARY_COLOR = env_color("PORTAL_BRAND_PRIMARY_COLOR", "#2b59c3")
PORTAL_BRAND_ACCENT_COLOR = env_color("PORTAL_BRAND_ACCENT_COLOR", "#7fa4ff")
PORTAL_BRAND_SUPPORT_EMAIL = env_str("PORTAL_BRAND_SUPPORT_EMAIL")
if PORTAL_BRAND_SUPPORT_EMAIL and not re.fullmatch(
    r"[^@\s]+@[^@\s]+\.[^@\s]+", PORTAL_BRAND_SUPPORT_EMAIL
):
    raise ConfigError(
        f"PORTAL_BRAND_SUPPORT_EMAIL must be an e-mail address, not {PORTAL_BRAND_SUPPORT_EMAIL!r}"
    )
PORTAL_BRAND_FOOTER_TEXT = env_str("PORTAL_BRAND_FOOTER_TEXT")
# A logo for the operator's brand: a path on this portal (e.g. a static file) or an https URL.
PORTAL_BRAND_LOGO_URL = env_str("PORTAL_BRAND_LOGO_URL")
if PORTAL_BRAND_LOGO_URL and not PORTAL_BRAND_LOGO_URL.startswith(("/", "https://")):
    raise ConfigError(
        "PORTAL_BRAND_LOGO_URL must be a path (/...) or an https:// URL, "
        f"not {PORTAL_BRAND_LOGO_URL!r}"
    )
# Partners' logos: at most this many bytes and pixels (width x height), checked by decoding.
PORTAL_BRAND_LOGO_MAX_BYTES = env_int(
    "PORTAL_BRAND_LOGO_MAX_BYTES", 256 * 1024, minimum=1024, maximum=2 * 1024 * 1024
)
PORTAL_BRAND_LOGO_MAX_PIXELS = env_int(
    "PORTAL_BRAND_LOGO_MAX_PIXELS", 1024 * 1024, minimum=64 * 64, maximum=16 * 1024 * 1024
)
# Custom hosts partners may claim. Empty: any public domain name (each still unique across
# partners and never one of PORTAL_OPERATOR_HOSTS). Set it (Django's pattern syntax, e.g.
# ".partners.example.com") to allow only names your DNS and TLS certificates cover.
PORTAL_BRAND_HOST_PATTERNS = env_list("PORTAL_BRAND_HOST_PATTERNS", [])

# Console and background conversations
# The streaming console (tenants/views/console.py) and background jobs (tenants/console/).
# A running job's worker writes a heartbeat this often; a running job whose heartbeat is older
# than CONSOLE_JOB_STALE_SECONDS lost its worker and is marked failed (beat, and pages on read).
CONSOLE_JOB_HEARTBEAT_SECONDS = env_int("CONSOLE_JOB_HEARTBEAT_SECONDS", 2, minimum=1, maximum=60)
CONSOLE_JOB_STALE_SECONDS = env_int("CONSOLE_JOB_STALE_SECONDS", 30, minimum=3, maximum=3600)
if CONSOLE_JOB_STALE_SECONDS <= 2 * CONSOLE_JOB_HEARTBEAT_SECONDS:
    raise ConfigError(
        "CONSOLE_JOB_STALE_SECONDS must be more than twice CONSOLE_JOB_HEARTBEAT_SECONDS, "
        "or live jobs would be taken for dead ones"
    )
# A job no worker has started after this long is failed ("no worker picked it up").
CONSOLE_JOB_QUEUE_TIMEOUT_SECONDS = env_int(
    "CONSOLE_JOB_QUEUE_TIMEOUT_SECONDS", 900, minimum=10, maximum=7 * 24 * 3600
)
# Channels keep a job's events for replay this long after its last event (the upstream keeps
# its own for an hour, UPSTREAM.md §7), and at most this many events per channel.
CONSOLE_CHANNEL_RETENTION_SECONDS = env_int(
    "CONSOLE_CHANNEL_RETENTION_SECONDS", 3600, minimum=60, maximum=30 * 24 * 3600
)
CONSOLE_CHANNEL_MAX_EVENTS = env_int(
    "CONSOLE_CHANNEL_MAX_EVENTS", 10_000, minimum=100, maximum=1_000_000
)
# How often a subscriber of the database backend looks for new events.
CONSOLE_CHANNEL_POLL_MS = env_int("CONSOLE_CHANNEL_POLL_MS", 100, minimum=10, maximum=5_000)
CELERY_BEAT_SCHEDULE["console-stale-jobs"] = {
    "task": "tenants.console.tasks.fail_stale_jobs",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["console-purge-channels"] = {
    "task": "tenants.console.tasks.purge_channel_events",
    "schedule": 600.0,
}
