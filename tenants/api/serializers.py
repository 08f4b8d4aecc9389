"""Request and response bodies of the management API.

Input serializers only check shapes and types (strings are strings, objects are objects, no
unknown fields); the rules (unique e-mails, time zones, limits, who may grant a role) are the
services' and come back as ``AccountError``. Output serializers never carry a secret: a
partner's upstream credential appears only as ``sk-…last4``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tenants.models import Account, AuditEvent, Invitation, Membership, Role

# -- input --------------------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer[Any]):
    """Refuses fields it does not know, instead of ignoring a client's typo."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in writable)
            if unknown:
                raise serializers.ValidationError(dict.fromkeys(unknown, "Unknown field."))
        return super().to_internal_value(data)


class _StringsOnly(serializers.CharField):
    # DRF's CharField turns 42 into "42"; a wrong type is the client's mistake to hear about.
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class Text(_StringsOnly):
    default_error_messages = {"invalid": "Must be a string."}


class Email(_StringsOnly, serializers.EmailField):
    default_error_messages = {"invalid": "Must be an e-mail address."}


class AccountCreateSerializer(StrictSerializer):
    # "parent" shadows Field.parent in the type stubs only: DRF's metaclass moves declared
    # fields off the class.
    parent = Text(help_text="Public id or slug of the account to onboard under (admin role).")  # type: ignore[assignment]
    name = Text(max_length=200)
    email = Email(required=False, allow_blank=True, help_text="Unique among siblings.")
    slug = Text(required=False, max_length=64, help_text="Default: from the name.")
    timezone = Text(required=False, default="UTC", max_length=64)
    meta = serializers.DictField(required=False, help_text="Free-form JSON object.")
    limits = serializers.DictField(
        required=False, help_text="Numbers of at least 0 (or objects of them)."
    )


class AccountUpdateSerializer(StrictSerializer):
    name = Text(required=False, max_length=200)
    email = Email(required=False, allow_blank=True)
    timezone = Text(required=False, max_length=64)
    meta = serializers.DictField(
        required=False, help_text="Merged into the current meta; a null value removes the key."
    )
    limits = serializers.DictField(required=False, help_text="Replaces the current limits.")


class SuspendSerializer(StrictSerializer):
    reason = Text(required=False, allow_blank=True, max_length=500)


class EmptySerializer(StrictSerializer):
    pass


class CloseSerializer(StrictSerializer):
    confirm = Text(help_text="The account's slug, typed to confirm closing it and its subtree.")


class RoleChangeSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationCreateSerializer(StrictSerializer):
    account = Text(help_text="Public id or slug of the account (admin role).")
    email = Email()
    role = serializers.ChoiceField(choices=Role.choices)


# -- filters (query parameters; others such as cursor and take are the paginator's) -----------


class AccountFilterSerializer(serializers.Serializer[Any]):
    search = serializers.CharField(
        required=False, max_length=200, help_text="Part of the name, slug or e-mail; or an id."
    )
    status = serializers.ChoiceField(choices=Account.Status.choices, required=False)
    parent = serializers.CharField(  # type: ignore[assignment]
        required=False, max_length=64, help_text="Only the direct children of this account."
    )


class AccountRefFilterSerializer(serializers.Serializer[Any]):
    account = serializers.CharField(
        required=False, max_length=64, help_text="Public id or slug: only this account's."
    )


class AuditFilterSerializer(AccountRefFilterSerializer):
    action = serializers.CharField(
        required=False,
        max_length=64,
        help_text="An action (account.suspended) or a prefix (account.).",
    )
    actor = serializers.CharField(
        required=False, max_length=150, help_text="The acting person's username or e-mail."
    )
    correlation_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="Only the events of this support session (its correlation id, sup_…).",
    )
    since = serializers.DateTimeField(required=False, help_text="At or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Before (ISO 8601).")


# -- output -------------------------------------------------------------------------------------


class UpstreamSummarySerializer(serializers.Serializer[Any]):
    base_url = serializers.URLField()
    credential = serializers.CharField(help_text="The parent secret's kind and last 4 only.")


class AccountSerializer(serializers.ModelSerializer[Account]):
    id = serializers.CharField(source="public_id", read_only=True)
    parent = serializers.CharField(  # type: ignore[assignment]
        source="parent.public_id", read_only=True, allow_null=True, default=None
    )
    is_partner = serializers.BooleanField(read_only=True)
    meta = serializers.DictField(read_only=True)
    limits = serializers.DictField(read_only=True)
    upstream = serializers.SerializerMethodField(help_text="Partners only: the connection.")

    class Meta:
        model = Account
        fields = [
            "id",
            "slug",
            "name",
            "email",
            "status",
            "parent",
            "is_partner",
            "timezone",
            "meta",
            "limits",
            "upstream",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(UpstreamSummarySerializer(allow_null=True))
    def get_upstream(self, account: Account) -> dict[str, str] | None:
        if not account.is_partner:
            return None
        return {
            "base_url": account.upstream_base_url,
            "credential": account.upstream_secret_display,
        }


class PersonSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    account = serializers.CharField(source="account.public_id", read_only=True)
    user = PersonSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "account", "user", "role", "created_at"]
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    account = serializers.CharField(source="account.public_id", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "account", "email", "role", "state", "expires_at", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "accepted", "expired"]))
    def get_state(self, invitation: Invitation) -> str:
        if invitation.accepted_at is not None:
            return "accepted"
        return "pending" if invitation.is_pending else "expired"


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    account = serializers.CharField(source="account.public_id", read_only=True)
    actor = serializers.CharField(source="actor_label", read_only=True)
    changes = serializers.DictField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "account",
            "action",
            "actor",
            "target_type",
            "target_id",
            "changes",
            "request_id",
            "correlation_id",
            "ip",
            "created_at",
        ]
        read_only_fields = fields
