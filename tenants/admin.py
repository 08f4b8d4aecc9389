"""The operator's admin: accounts and people are editable; the audit log is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tenants.models import Account, AuditEvent, Invitation, Membership


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin[Account]):
    list_display = ["name", "public_id", "slug", "status", "parent", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "public_id", "slug", "email"]
    list_select_related = ["parent"]
    # Changes with upstream effects (status, closing, the secret) go through tenants.services;
    # the admin shows them but does not bypass the service layer.
    readonly_fields = [
        "public_id",
        "parent",
        "path",
        "status",
        "upstream_secret_display",
        "created_at",
        "updated_at",
        "closed_at",
    ]
    exclude = ["upstream_secret_encrypted", "upstream_secret_last4"]
    raw_id_fields = ["parent"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # partners and tenants are made by create_partner / onboard_tenant

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are closed, never deleted


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "account__name", "account__public_id"]
    raw_id_fields = ["user", "account"]
    list_select_related = ["user", "account"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["email", "account", "role", "expires_at", "accepted_at"]
    search_fields = ["email", "account__name"]
    list_select_related = ["account"]
    readonly_fields = ["token_hash", "accepted_at", "invited_by", "created_at"]
    raw_id_fields = ["account"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invite_member sends the link; an admin-made row would have none


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the audit log has no update or delete path, here included."""

    list_display = ["created_at", "action", "actor_label", "account", "target_type", "target_id"]
    list_filter = ["action"]
    search_fields = ["action", "actor_label", "account__name", "account__public_id", "target_id"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
