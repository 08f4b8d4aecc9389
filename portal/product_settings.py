"""The product's own settings, by area: the proxy, the widget, tokens, metering, alerts, support
impersonation, branding, the console. ``portal/settings.py`` holds the framework's (Django,
database, cache, Celery, upstream client) and imports these; each is read from the environment
with the strict helpers of ``portal/env.py``, as there.

Periodic jobs of these areas are collected in ``BEAT_SCHEDULE``, which settings.py adds to
``CELERY_BEAT_SCHEDULE``.
"""

from __future__ import annotations

import re
from typing import Any

from celery.schedules import crontab

from portal.env import ConfigError, env_bool, env_color, env_int, env_list, env_str

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}

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
BEAT_SCHEDULE["flush-token-last-used"] = {
    "task": "tenants.tasks.flush_token_last_used",
    "schedule": 60.0,
}
# The database counters' idle rate windows (every widget visitor's session has one).
BEAT_SCHEDULE["prune-rate-windows"] = {
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
# The writer's database connection is kept this long after its last batch (0: one per batch).
METERING_KEEP_CONNECTION_SECONDS = env_int(
    "METERING_KEEP_CONNECTION_SECONDS", 30, minimum=0, maximum=3600
)
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
BEAT_SCHEDULE["metering-rollup"] = {
    "task": "tenants.metering.tasks.rollup_usage",
    "schedule": 300.0,
}
BEAT_SCHEDULE["metering-retention"] = {
    "task": "tenants.metering.tasks.purge_usage_events",
    "schedule": crontab(hour=3, minute=15),
}
# Late in the UTC day rather than just after midnight: the upstream's usage/fetch covers the
# current calendar month, and a run at 00:xx on the 1st would compare two empty periods.
BEAT_SCHEDULE["metering-reconcile"] = {
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
PORTAL_WEBHOOK_ALLOW_PRIVATE = env_bool("PORTAL_WEBHOOK_ALLOW_PRIVATE", not env_str("DATABASE_URL"))
BEAT_SCHEDULE["alerts-thresholds"] = {
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
BEAT_SCHEDULE["support-sessions-expire"] = {
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
# Finished jobs (with the message and the reply they hold) are deleted this many days after
# they finished (beat, nightly); 0 keeps them.
CONSOLE_JOB_RETENTION_DAYS = env_int("CONSOLE_JOB_RETENTION_DAYS", 90, minimum=0, maximum=3650)
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
BEAT_SCHEDULE["console-stale-jobs"] = {
    "task": "tenants.console.tasks.fail_stale_jobs",
    "schedule": 30.0,
}
BEAT_SCHEDULE["console-purge-jobs"] = {
    "task": "tenants.console.tasks.purge_finished_jobs",
    "schedule": crontab(hour=3, minute=45),
}
BEAT_SCHEDULE["console-purge-channels"] = {
    "task": "tenants.console.tasks.purge_channel_events",
    "schedule": 600.0,
}
