"""Portal tokens: credentials bound to one account, stored only as keyed hashes.

The format, hashing and authentication live in ``tenants.credentials``; every change goes
through ``tenants.services.tokens`` (which also republishes the hot path's cached record).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.credentials.format import API_PREFIX, WIDGET_PREFIX, display
from tenants.models.accounts import Account


class TokenQuerySet(models.QuerySet["Token"]):
    def usable(self) -> TokenQuerySet:
        """Neither revoked nor expired."""
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )

    def api(self) -> TokenQuerySet:
        return self.filter(kind=Token.Kind.API)


class Token(models.Model):
    class Kind(models.TextChoices):
        API = "api", "API token"  # long-lived, for programs
        SESSION = "session", "Session token"  # short-lived, optionally limited to routes
        WIDGET = "widget", "Widget key"  # one bot, chat:stream only, from browsers (tenants/widget)

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tokens")
    # Public id, also inside the token itself: the hot path finds the record by it.
    token_id = models.CharField(max_length=32, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.API)
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    meta = models.JSONField(default=dict, blank=True)
    scopes = models.JSONField(default=list)
    bot_ids = models.JSONField(null=True, blank=True)  # null: any bot
    allowed_routes = models.JSONField(null=True, blank=True)  # null: any /v1 route
    expires_at = models.DateTimeField(null=True, blank=True)
    # Requests per minute for this token alone (null: none); its account's limits apply too.
    rpm = models.PositiveIntegerField(null=True, blank=True)
    # Widget keys only: requests per minute of each chat session (sessionId) of the key.
    session_rpm = models.PositiveIntegerField(null=True, blank=True)

    # HMAC-SHA256 (PORTAL_TOKEN_PEPPER) of the secret: tenants.credentials.format.hash_secret.
    secret_hash = models.CharField(max_length=64, editable=False)
    # The secret replaced by the last rotation keeps working until previous_valid_until.
    previous_secret_hash = models.CharField(max_length=64, blank=True, editable=False)
    previous_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    last4 = models.CharField(max_length=4, editable=False)

    revoked_at = models.DateTimeField(null=True, blank=True)
    # Copied from the shared store in batches (tenants.credentials.last_used), never per request.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[TokenQuerySet] = TokenQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="token_account_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.token_id} ({self.display})"

    @property
    def is_widget_key(self) -> bool:
        return self.kind == self.Kind.WIDGET

    @property
    def prefix(self) -> str:
        return WIDGET_PREFIX if self.kind == self.Kind.WIDGET else API_PREFIX

    @property
    def display(self) -> str:
        """Prefix and last four characters, e.g. ``ppk_…x9Qz``: enough to recognise it."""
        return display(self.prefix, self.last4)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def in_rotation_grace(self) -> bool:
        """True while the secret replaced by the last rotation still works."""
        until = self.previous_valid_until
        return bool(self.previous_secret_hash) and until is not None and until > timezone.now()

    @property
    def status(self) -> str:
        """``revoked``, ``expired`` or ``active``, for pages and the API."""
        if self.is_revoked:
            return "revoked"
        if self.is_expired:
            return "expired"
        return "active"


class WidgetOrigin(models.Model):
    """One web origin (``scheme://host[:port]``) a widget key may be used from by browsers.

    Rows, not a JSON list on the token, so that the set of origins some live widget key lists
    is one query for ``tenants.widget.origins``, which holds it in memory for browsers' CORS
    preflights (an origin, no key); the ``origin`` index serves the admin's and a person's
    look-ups by origin. The key's own list travels in its cached record.
    """

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="widget_origins")
    origin = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "origin"], name="unique_widget_origin"),
        ]
        indexes = [models.Index(fields=["origin"], name="widget_origin_lookup")]
        ordering = ["origin"]

    def __str__(self) -> str:
        return self.origin
