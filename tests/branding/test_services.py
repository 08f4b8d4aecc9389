"""The branding services: checked input, one audited transaction, nothing half-written, and
cached brands forgotten on commit (in this process at once, in others through the epoch)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.branding import brand_for_account, forget_brands, lookup, operator_brand
from tenants.branding.lookup import EPOCH_KEY, clear_local_cache, partner_for_host
from tenants.models import Account, AuditEvent, Brand, BrandHost, BrandLogo
from tenants.services import AccountError, reset_brand, update_brand
from tests.branding.conftest import A_HOST, image
from tests.factories import make_partner, make_world

pytestmark = pytest.mark.django_db


def test_a_partner_without_a_brand_shows_the_operators():
    world = make_world()
    assert brand_for_account(world.a_grandchild) == operator_brand()


def test_the_first_change_makes_the_brand_from_what_the_partner_showed_until_then():
    partner = make_partner("Initech Resale")
    brand = update_brand(partner, changes={"support_email": "Help@Initech.example"}, actor=None)
    assert (brand.product_name, brand.primary_color, brand.support_email) == (
        "Partner Portal",
        "#2b59c3",
        "help@initech.example",
    )
    event = AuditEvent.objects.get(action="brand.created")
    assert event.account == partner
    assert event.changes["support_email"] == {"before": None, "after": "help@initech.example"}
    assert event.changes["product_name"] == {"before": None, "after": "Partner Portal"}


def test_a_change_is_audited_with_what_changed_and_nothing_else(branded):
    update_brand(
        branded.partner_a,
        changes={"primary_color": "#0F766E", "accent_color": "#000000"},
        actor=branded.a_admin,
    )
    event = AuditEvent.objects.filter(action="brand.updated").get()
    assert event.actor == branded.a_admin
    assert event.changes == {"accent_color": {"before": "#f59e0b", "after": "#000000"}}
    update_brand(branded.partner_a, changes={"accent_color": "#000000"}, actor=None)
    assert AuditEvent.objects.filter(action="brand.updated").count() == 1  # no change, no event


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"primary_color": "blue"}, "primary colour must be a colour written #rrggbb"),
        ({"accent_color": "#abc"}, "accent colour must be a colour written #rrggbb"),
        ({"primary_color": "#12345g"}, "#rrggbb"),
        ({"product_name": "  "}, "product name is required"),
        ({"product_name": "x" * 61}, "at most 60 characters"),
        ({"product_name": "Acme\nBcc: x@y"}, "one line of plain text"),
        ({"footer_text": "f" * 301}, "at most 300 characters"),
        ({"support_email": "not-an-address"}, "not a valid e-mail address"),
        ({"font": "Comic Sans"}, "Unknown brand fields: font"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(branded, changes, message):
    before = Brand.objects.get(partner=branded.partner_a)
    with pytest.raises(AccountError, match=message):
        update_brand(branded.partner_a, changes=changes, actor=None)
    after = Brand.objects.get(partner=branded.partner_a)
    assert [getattr(after, f) for f in ("product_name", "primary_color", "footer_text")] == [
        getattr(before, f) for f in ("product_name", "primary_color", "footer_text")
    ]


def test_a_refused_logo_or_host_leaves_every_other_field_as_it_was(branded):
    logo_before = BrandLogo.objects.get(brand__partner=branded.partner_a).sha256
    with pytest.raises(AccountError, match="SVG"):
        update_brand(
            branded.partner_a,
            changes={"product_name": "Renamed"},
            hosts=["new.acme.example"],
            logo=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            actor=None,
        )
    with pytest.raises(AccountError, match="already used by another partner"):
        update_brand(
            branded.partner_a,
            changes={"product_name": "Renamed"},
            hosts=["new.acme.example", "ai.globex.example"],
            actor=None,
        )
    brand = Brand.objects.get(partner=branded.partner_a)
    assert brand.product_name == "Acme Cloud"
    assert list(brand.hosts.values_list("host", flat=True)) == [A_HOST]
    assert BrandLogo.objects.get(brand=brand).sha256 == logo_before
    assert not AuditEvent.objects.filter(action="brand.updated").exists()


def test_a_tenant_has_no_brand_of_its_own(branded):
    with pytest.raises(AccountError, match="shows its partner's brand"):
        update_brand(branded.a_child, changes={"product_name": "Mine"}, actor=None)
    assert not Brand.objects.filter(partner=branded.a_child).exists()


def test_a_closed_partner_keeps_its_brand_as_it_was(branded):
    Account.objects.filter(pk=branded.partner_b.pk).update(status=Account.Status.CLOSED)
    branded.partner_b.refresh_from_db()
    with pytest.raises(AccountError, match="is closed"):
        update_brand(branded.partner_b, changes={"product_name": "Gone"}, actor=None)


@pytest.mark.parametrize("persona", ["a_support", "a_viewer", "tenant_user", "b_owner", "outsider"])
def test_only_the_partners_admins_owners_and_operators_change_its_brand(branded, persona):
    with pytest.raises(AccountError) as refused:
        update_brand(
            branded.partner_a, changes={"product_name": "X"}, actor=getattr(branded, persona)
        )
    assert refused.value.code == "NOT_AUTHORIZED"
    for allowed in ("a_owner", "a_admin", "staff"):
        update_brand(
            branded.partner_a, changes={"product_name": allowed}, actor=getattr(branded, allowed)
        )


def test_removing_the_logo_and_resetting_the_brand(branded):
    update_brand(branded.partner_a, remove_logo=True, actor=None)
    assert not BrandLogo.objects.filter(brand__partner=branded.partner_a).exists()
    with pytest.raises(AccountError, match="not both"):
        update_brand(branded.partner_a, logo=image(), remove_logo=True, actor=None)
    reset_brand(branded.partner_a, actor=branded.a_owner)
    assert not Brand.objects.filter(partner=branded.partner_a).exists()
    assert not BrandHost.objects.filter(host=A_HOST).exists()
    event = AuditEvent.objects.get(action="brand.reset")
    assert event.changes["product_name"] == {"before": "Acme Cloud", "after": None}
    reset_brand(branded.partner_a, actor=None)  # nothing left: nothing happens
    assert AuditEvent.objects.filter(action="brand.reset").count() == 1


# -- caching -----------------------------------------------------------------------------------


def test_a_warm_brand_lookup_costs_no_query(branded, django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(lookup, "CHECK_SECONDS", 60.0)  # however slow this machine is today
    brand_for_account(branded.a_grandchild)
    partner_for_host(A_HOST)
    with django_assert_num_queries(0):
        assert brand_for_account(branded.a_grandchild).product_name == "Acme Cloud"
        assert brand_for_account(branded.a_child).product_name == "Acme Cloud"
        assert partner_for_host(A_HOST) == branded.partner_a.pk
        assert partner_for_host("unknown.example") is None


def test_another_process_finds_brands_in_the_shared_cache(branded, settings):
    brand_for_account(branded.a_child)  # fills the shared cache
    clear_local_cache()  # what a second worker has: no memory of its own
    with CaptureQueriesContext(connection) as queries:
        assert brand_for_account(branded.a_child).product_name == "Acme Cloud"
    brand_reads = [q for q in queries.captured_queries if "tenants_brand" in q["sql"]]
    # Redis holds the brand; with the database cache backend the brand row is read itself.
    assert len(brand_reads) == (0 if settings.REDIS_URL else 1)


def test_a_change_is_seen_at_once_here_and_by_other_processes_after_commit(
    branded, django_capture_on_commit_callbacks
):
    assert brand_for_account(branded.a_child).primary_color == "#0f766e"
    epoch = cache.get(EPOCH_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        update_brand(branded.partner_a, changes={"primary_color": "#b91c1c"}, actor=None)
    assert brand_for_account(branded.a_child).primary_color == "#b91c1c"
    # Another process: its memory still holds the old brand until it sees the new epoch (at
    # most a second); the shared keys it will then read are the new epoch's.
    assert cache.get(EPOCH_KEY) != epoch
    clear_local_cache()
    assert brand_for_account(branded.a_child).primary_color == "#b91c1c"


def test_a_new_host_is_served_as_soon_as_it_is_committed(
    branded, django_capture_on_commit_callbacks
):
    assert partner_for_host("help.acme.example") is None
    with django_capture_on_commit_callbacks(execute=True):
        update_brand(branded.partner_a, hosts=[A_HOST, "help.acme.example"], actor=None)
    assert partner_for_host("help.acme.example") == branded.partner_a.pk


def test_brands_are_read_from_the_database_when_the_cache_is_down(branded, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", broken)
    forget_brands()  # the warning path as well
    assert brand_for_account(branded.b_child).product_name == "Globex AI"
    assert partner_for_host(A_HOST) == branded.partner_a.pk
