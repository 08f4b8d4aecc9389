"""The widget key pages without the network: the list's cost does not grow with its keys, and
what a viewer sees (no actions). Live flows (bot picker, issuing, preview) are in
tests/widget/test_pages.py; who reaches what is in test_permissions.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_widget_key

pytestmark = pytest.mark.django_db


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_widget_key_list_costs_the_same_for_two_keys_or_eight(pages, client_for):
    client = client_for("a_admin")
    url = f"/accounts/{pages.a_child.public_id}/widget/"
    for _ in range(2):
        make_widget_key(pages.a_child, origins=("https://a.example", "https://b.example"))
    client.get(url)  # the first page of a process also fills its brand cache (tenants.branding)
    few = _queries(client, url)
    for _ in range(6):
        make_widget_key(pages.a_child, origins=("https://c.example",))

    assert _queries(client, url) == few


def test_a_viewer_sees_the_keys_and_their_origins_but_no_actions(pages, client_for):
    key = make_widget_key(pages.a_child, origins=("https://shop.example",))

    html = client_for("a_viewer").get(f"/accounts/{pages.a_child.public_id}/widget/").content
    page = client_for("a_viewer").get(f"/widget-keys/{key.token_id}/").content.decode()

    assert b"https://shop.example" in html
    assert key.display.encode() in html
    assert b"+ New widget key" not in html
    assert b"/rotate/" not in html
    assert "Save origins" not in page
    assert "Previewing needs the support role or more." in page


def test_another_partners_people_never_see_the_key(pages, client_for):
    key = make_widget_key(pages.a_child)

    assert client_for("b_owner").get(f"/widget-keys/{key.token_id}/").status_code == 404
    assert client_for("outsider").get(f"/widget-keys/{key.token_id}/").status_code == 404
