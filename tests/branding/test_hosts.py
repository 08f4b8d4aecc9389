"""Custom hosts: what a partner may claim, how it is stored, and the Host check of every request
(the operator's hosts and registered custom hosts pass, anything else is a 400)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client, override_settings

from tenants.branding.hosts import HostRefused, clean_host
from tenants.models import BrandHost
from tenants.services import AccountError, reset_brand, update_brand
from tenants.services.branding import HostTaken
from tests.branding.conftest import A_HOST, B_HOST


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Portal.Acme.COM", "portal.acme.com"),
        ("portal.acme.com:8443", "portal.acme.com"),
        ("portal.acme.com.", "portal.acme.com"),
        ("  help.acme.co.uk ", "help.acme.co.uk"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_hosts_are_stored_lower_case_in_punycode_without_port(given, stored):
    assert clean_host(given) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("https://portal.acme.com/", "give a host name only"),
        ("portal acme.com", "give a host name only"),
        ("10.0.0.7", "not an IP address"),
        ("[::1]", "not an IP address"),
        ("intranet", "not a host name a portal can be served on"),
        ("-bad-.example", "not a host name a portal can be served on"),
        ("a." * 130 + "com", "not a host name a portal can be served on"),
        ("localhost", "portal's own host names"),
        ("testserver", "portal's own host names"),
        ("", "cannot be empty"),
    ],
)
def test_hosts_a_partner_may_not_claim_are_refused_with_a_reason(given, reason):
    with pytest.raises(HostRefused, match=reason):
        clean_host(given)


@override_settings(PORTAL_OPERATOR_HOSTS=["portal.example.com", ".operator.example"])
def test_the_operators_own_hosts_and_domains_cannot_be_claimed():
    for host in ("portal.example.com", "operator.example", "eu.operator.example"):
        with pytest.raises(HostRefused, match="portal's own host names"):
            clean_host(host)
    assert clean_host("portal.example.org") == "portal.example.org"


@override_settings(PORTAL_BRAND_HOST_PATTERNS=[".partners.example.com"])
def test_a_host_pattern_limits_custom_hosts_to_names_the_operator_covers():
    assert clean_host("acme.partners.example.com") == "acme.partners.example.com"
    with pytest.raises(HostRefused, match=r"must be under \*\.partners\.example\.com"):
        clean_host("portal.acme.com")


# -- claiming hosts ----------------------------------------------------------------------------


def test_a_host_claimed_by_one_partner_cannot_be_claimed_by_another(branded):
    with pytest.raises(HostTaken) as taken:
        update_brand(branded.partner_b, hosts=[B_HOST, A_HOST.upper()], actor=branded.b_owner)
    assert taken.value.message == f"{A_HOST} is already used by another partner."
    assert "Acme" not in taken.value.message  # never says whose
    assert list(
        BrandHost.objects.filter(brand__partner=branded.partner_b).values_list("host", flat=True)
    ) == [B_HOST]


def test_the_database_holds_a_host_to_one_partner_whatever_the_code_does(branded):
    b_brand = branded.partner_b.brand
    with pytest.raises(IntegrityError), transaction.atomic():
        BrandHost.objects.create(brand=b_brand, host=A_HOST)


def test_a_host_released_by_one_partner_can_be_claimed_by_another(branded):
    update_brand(branded.partner_a, hosts=[], actor=None)
    update_brand(branded.partner_b, hosts=[A_HOST], actor=None)
    assert BrandHost.objects.get(host=A_HOST).brand.partner == branded.partner_b


def test_hosts_keep_their_order_and_repeats_collapse(branded):
    update_brand(
        branded.partner_a,
        hosts=["b.acme.example", "A.acme.example", "b.acme.example:443", ""],
        actor=None,
    )
    hosts = BrandHost.objects.filter(brand__partner=branded.partner_a)
    assert list(hosts.values_list("host", flat=True)) == ["b.acme.example", "a.acme.example"]


def test_a_partner_has_at_most_ten_hosts(branded):
    with pytest.raises(AccountError, match="at most 10 custom hosts"):
        update_brand(branded.partner_a, hosts=[f"h{n}.acme.example" for n in range(11)], actor=None)


# -- the Host check of every request -----------------------------------------------------------


def test_a_request_to_an_unknown_host_is_refused_like_django_refuses_one(branded):
    for path in ("/login/", "/", "/api/v1/portal/accounts/", "/healthz"):
        assert Client(HTTP_HOST="evil.example").get(path).status_code == 400


def test_operator_hosts_and_registered_custom_hosts_are_served(branded):
    assert Client().get("/login/").status_code == 200
    assert Client(HTTP_HOST="localhost:8000").get("/login/").status_code == 200
    assert Client(HTTP_HOST=A_HOST).get("/login/").status_code == 200
    assert Client(HTTP_HOST=f"{A_HOST.upper()}:443").get("/login/").status_code == 200


def test_a_host_stops_being_served_once_its_partner_drops_it(
    branded, django_capture_on_commit_callbacks
):
    client = Client(HTTP_HOST=B_HOST)
    assert client.get("/login/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        reset_brand(branded.partner_b, actor=None)
    assert client.get("/login/").status_code == 400


def test_a_forged_host_never_reaches_an_emailed_link(branded, django_capture_on_commit_callbacks):
    """E-mailed links are built from stored configuration, never from the request's Host."""
    client = Client(HTTP_HOST=B_HOST)
    client.force_login(branded.b_owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/accounts/{branded.b_child.public_id}/members/",
            {"email": "new@globex.example", "role": "viewer"},
        )
    assert response.status_code in (200, 303)
    (message,) = mail.outbox
    assert f"http://{B_HOST}/invitations/" in message.body
    forged = Client(HTTP_HOST="evil.example", HTTP_X_FORWARDED_HOST="evil.example")
    forged.force_login(branded.b_owner)
    assert forged.get("/").status_code == 400


def test_a_tls_terminator_may_ask_whether_a_host_is_served(branded):
    def ask(domain: str) -> int:
        return Client().get("/branding/host-check", {"domain": domain}).status_code

    assert ask(A_HOST) == 200
    assert ask(f"{B_HOST.upper()}.") == 200
    assert ask("localhost") == 200
    assert ask("evil.example") == 404
    assert ask("") == 404
    assert ask("not a host") == 404


# The portal runs under ASGI, where the middleware takes its async path.


def test_the_async_path_checks_hosts_the_same_way(branded, monkeypatch):
    from asgiref.sync import async_to_sync
    from django.core.exceptions import DisallowedHost
    from django.http import HttpResponse
    from django.test import AsyncRequestFactory

    from tenants.branding.middleware import HostCheckMiddleware

    async def view(request):
        return HttpResponse(str(request.brand_host_partner))

    middleware = HostCheckMiddleware(view)
    assert middleware.is_async

    def call(host: str) -> str:
        request = AsyncRequestFactory().get("/")
        request.META["HTTP_HOST"] = host
        response: HttpResponse = async_to_sync(middleware)(request)
        return response.content.decode()

    assert call("testserver") == "None"
    assert call(A_HOST) == str(branded.partner_a.pk)  # from the database, off the event loop
    assert call(f"{B_HOST}:443") == str(branded.partner_b.pk)  # from this process's memory
    with pytest.raises(DisallowedHost):
        call("evil.example")
    with pytest.raises(DisallowedHost):
        call("bad host!")
