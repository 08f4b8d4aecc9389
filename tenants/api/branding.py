"""A partner's white-label brand: read it, change it (JSON, or multipart to upload a logo), or
go back to the operator's default. ``/accounts/{id}/branding/``, where ``{id}`` is a partner's
public id or slug: a tenant has no brand of its own (it shows its partner's), so it is a 404 here.

People need the admin role on the partner; tokens need the ``*`` scope on a partner's own token
(the catalogue names no resource for branding, and a tenant's token never reaches its partner).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from tenants import access
from tenants.api.base import Rule, ScopedViewSet
from tenants.api.parsers import BoundedJSONParser, BoundedMultiPartParser
from tenants.api.schema import CONFLICT, ERRORS
from tenants.api.serializers import Email, StrictSerializer, Text
from tenants.branding.lookup import stored_brand
from tenants.models import Account, Role
from tenants.services import reset_brand, update_brand
from tenants.services.branding import FIELDS, FOOTER_MAX, MAX_HOSTS, PRODUCT_NAME_MAX


class BrandingUpdateSerializer(StrictSerializer):
    product_name = Text(required=False, max_length=PRODUCT_NAME_MAX)
    primary_color = Text(required=False, max_length=7, help_text="#rrggbb, like #2b59c3.")
    accent_color = Text(required=False, max_length=7, help_text="#rrggbb.")
    support_email = Email(required=False, allow_blank=True, help_text="Reply-To of e-mails.")
    footer_text = Text(required=False, allow_blank=True, max_length=FOOTER_MAX)
    hosts = serializers.ListField(
        child=Text(allow_blank=True, max_length=300),
        required=False,
        max_length=MAX_HOSTS,
        help_text="Custom host names, replacing the current list (the first is used in "
        "e-mailed links). Each is unique across partners.",
    )
    logo = serializers.FileField(
        required=False,
        help_text="multipart/form-data only: a PNG, JPEG or WebP (no SVG) within the byte and "
        "pixel caps.",
    )
    remove_logo = serializers.BooleanField(required=False, default=False)


class LogoSerializer(serializers.Serializer[Any]):
    url = serializers.CharField(help_text="A path on the portal; immutable, cached for a year.")
    content_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Bytes.")


class BrandingSerializer(serializers.Serializer[Any]):
    partner = serializers.CharField(help_text="The partner's public id.")
    custom = serializers.BooleanField(
        help_text="False: the partner has no brand of its own and shows the default one."
    )
    product_name = serializers.CharField()
    primary_color = serializers.CharField()
    accent_color = serializers.CharField()
    text_on_primary_color = serializers.CharField(
        help_text="Picked for readability on the primary colour (white or near black)."
    )
    support_email = serializers.CharField()
    footer_text = serializers.CharField()
    logo = LogoSerializer(allow_null=True)
    hosts = serializers.ListField(child=serializers.CharField())
    updated_at = serializers.DateTimeField(allow_null=True)


def _branding_of(partner: Account) -> dict[str, Any]:
    stored = stored_brand(partner.pk)
    brand = stored.brand
    return {
        "partner": partner.public_id,
        "custom": stored.custom,
        **{field: getattr(brand, field) for field in FIELDS},
        "text_on_primary_color": brand.on_primary_color,
        "logo": LogoSerializer(stored.logo).data if stored.logo else None,
        "hosts": stored.hosts,
        "updated_at": stored.updated_at,
    }


@extend_schema_view(
    retrieve=extend_schema(
        summary="A partner's brand (the default one when it has none)",
        responses={200: BrandingSerializer, **ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change a partner's brand; send multipart/form-data to upload a logo",
        request={
            "application/json": BrandingUpdateSerializer,
            "multipart/form-data": BrandingUpdateSerializer,
        },
        responses={200: BrandingSerializer, **ERRORS, **CONFLICT},
    ),
    destroy=extend_schema(
        summary="Go back to the default brand (its logo and custom hosts are deleted)",
        responses={204: None, **ERRORS},
    ),
)
class BrandingViewSet(mixins.RetrieveModelMixin, ScopedViewSet[Account]):
    model = Account
    access_scope = staticmethod(access.accounts_for)
    account_field = None
    object_label = "partner"
    lookup_url_kwarg = "id"
    parser_classes = [BoundedJSONParser, BoundedMultiPartParser]
    serializer_class = BrandingSerializer
    rules = {
        "list": Rule(Role.VIEWER),
        "retrieve": Rule(Role.ADMIN),
        "partial_update": Rule(Role.ADMIN),
        "destroy": Rule(Role.ADMIN),
    }

    def lookup_condition(self, value: str) -> Q | None:
        # Partners only: their slugs are unique among partners.
        return Q(parent__isnull=True) & (Q(public_id=value) | Q(slug=value))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(_branding_of(self.get_object()))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partner = self.get_object()
        body = BrandingUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        upload = data.get("logo")
        update_brand(
            partner,
            changes={field: data[field] for field in FIELDS if field in data},
            hosts=data.get("hosts"),
            logo=upload.read() if upload is not None else None,
            remove_logo=data["remove_logo"],
            actor=self.caller,
            context=self.audit_context,
        )
        return Response(_branding_of(partner))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partner = self.get_object()
        reset_brand(partner, actor=self.caller, context=self.audit_context)
        return Response(status=status.HTTP_204_NO_CONTENT)
