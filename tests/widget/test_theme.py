"""The widget's colours follow the partner's brand, and never another partner's."""

from __future__ import annotations

import pytest

from tenants.branding import operator_brand
from tenants.services.branding import update_brand
from tenants.widget.theme import snippet, widget_theme
from tests.factories import make_partner, make_tenant

pytestmark = pytest.mark.django_db


def test_a_tenants_widget_takes_its_partners_colours_and_others_keep_the_operators():
    branded, plain = make_partner("Branded"), make_partner("Plain")
    update_brand(
        branded,
        changes={"primary_color": "#aa3300", "accent_color": "#113355"},
        actor=None,
    )
    tenant, other = make_tenant(branded, "Shop"), make_tenant(plain, "Other shop")

    theme = widget_theme(tenant)
    html = snippet(tenant, "ppw_example")

    assert (theme.primary_color, theme.accent_color) == ("#aa3300", "#113355")
    assert 'data-primary-color="#aa3300"' in html
    assert 'data-accent-color="#113355"' in html
    default = operator_brand()
    assert widget_theme(other).primary_color == default.primary_color != "#aa3300"
    assert "#aa3300" not in snippet(other, "ppw_example")
