"""The account's Usage tab: who sees it, its numbers (from the rollups), charts and rejections."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import Plan
from tests.pages.conftest import PERSONAS
from tests.usage.factories import make_rejection, make_usage

SEES_A_CHILD = {"a_owner", "a_admin", "a_support", "a_viewer", "tenant_user", "staff"}


def url(account) -> str:
    return f"/accounts/{account.public_id}/usage/"


def row_of(html: str, unit: str) -> str:
    match = re.search(rf'<tr data-unit="{unit}">(.*?)</tr>', html, re.S)
    assert match, unit
    return match.group(1)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_usage_tab_is_for_viewers_and_up_of_the_account(pages, client_for, persona):
    response = client_for(persona).get(url(pages.a_child))
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    elif persona in SEES_A_CHILD:
        assert response.status_code == 200
        assert b"Why was I blocked?" in response.content
    else:
        assert response.status_code == 404


def test_a_tenant_user_cannot_open_its_partners_usage(pages, client_for):
    assert client_for("tenant_user").get(url(pages.partner_a)).status_code == 404
    assert client_for("b_owner").get(url(pages.a_grandchild)).status_code == 404


def test_the_current_period_equals_the_rollups_of_the_subtree(pages, client_for):
    child, grandchild = pages.a_child, pages.a_grandchild
    child.limits = {"messages": 200, "tokens": 10_000}
    child.save()
    make_usage(child, messages=40, tokens=1_000, conversations=3, requests=50)
    make_usage(grandchild, messages=10, tokens=500, conversations=1, requests=12)
    make_usage(pages.a_sibling, messages=999, tokens=999)  # not below a_child
    make_usage(child, timezone.now() - timedelta(days=62), messages=77)  # an earlier period
    html = client_for("tenant_user").get(url(child)).content.decode()

    messages = row_of(html, "messages")
    assert '<td class="right used">50</td>' in messages
    assert '<td class="right limit">200</td>' in messages
    assert "25 %" in messages
    assert "this account's · 150 left" in messages
    tokens = row_of(html, "tokens")
    assert '<td class="right used">1500</td>' in tokens
    assert "15 %" in tokens
    conversations = row_of(html, "conversations")
    assert '<td class="right used">4</td>' in conversations
    assert "no limit" in conversations
    assert "resets 1 " in html  # the 1st of next month, in the account's zone


def test_the_tightest_limit_can_be_an_ancestors(pages, client_for):
    plan = Plan.objects.create(partner=pages.partner_a, name="Gold", messages=60)
    partner = pages.partner_a
    partner.plan = plan
    partner.save()
    child = pages.a_child
    child.limits = {"messages": 1000}
    child.save()
    make_usage(child, messages=50)
    make_usage(pages.a_sibling, messages=5)
    html = client_for("a_viewer").get(url(child)).content.decode()
    assert "Partner A's · 5 left" in row_of(html, "messages")
    # The partner's own row, with its plan, in "why was I blocked?" (a partner person sees it).
    assert "Gold" in html
    # A tenant user sees that a level above applies, never its name, plan or usage.
    tenant_html = client_for("tenant_user").get(url(child)).content.decode()
    assert "Your provider" in tenant_html
    assert "Gold" not in tenant_html
    assert "Partner A" not in tenant_html


def test_the_charts_are_inline_svg_with_one_bar_per_day(pages, client_for):
    today = timezone.now()
    make_usage(pages.a_child, today, messages=7, tokens=70, requests=9, errors=2)
    make_usage(pages.a_child, today - timedelta(days=3), messages=3)
    make_usage(pages.a_child, today - timedelta(days=40), messages=1000)  # outside the 30 days
    html = client_for("a_owner").get(url(pages.a_child)).content.decode()
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 5
    for chart in charts:
        assert chart.count('<rect class="bar"') == 30
    messages = next(chart for chart in charts if 'data-series="messages"' in chart)
    values = [int(value) for value in re.findall(r'data-value="(\d+)"', messages)]
    assert sum(values) == 10
    assert values[-1] == 7
    assert values[-4] == 3
    assert "<script" not in "".join(charts)
    assert "cdn" not in html.lower()


def test_why_was_i_blocked_lists_the_last_rejections(pages, client_for):
    child = pages.a_child
    make_rejection(child, request_id="req-quota")
    make_rejection(child, error_code="TOO_MANY_REQUESTS", request_id="req-rate")
    make_rejection(child, status=200, error_code="", request_id="req-fine")
    make_rejection(pages.a_sibling, request_id="req-sibling")
    html = client_for("tenant_user").get(url(child)).content.decode()
    assert html.count('<tr class="rejection">') == 2
    assert "req-quota" in html
    assert "req-rate" in html
    assert "TOO_MANY_REQUESTS" in html
    assert "req-fine" not in html
    assert "req-sibling" not in html


def test_a_parent_sees_what_it_allocated_to_its_children_oversold_or_not(pages, client_for):
    partner = pages.partner_a
    partner.limits = {"messages": 100}
    partner.save()
    for child, limit in ((pages.a_child, 80), (pages.a_sibling, 70)):
        child.limits = {"messages": limit}
        child.save()
    make_usage(pages.a_grandchild, messages=30)
    html = client_for("a_owner").get(url(partner)).content.decode()
    assert 'id="allocation"' in html
    allocation = re.search(r'<table class="list allocation">(.*?)</table>', html, re.S)
    assert allocation
    messages = re.search(r'<tr data-unit="messages">(.*?)</tr>', allocation.group(1), re.S)
    assert messages
    assert '<td class="right allocated">150</td>' in messages.group(1)
    assert "150 %" in messages.group(1)
    assert "oversold by 50" in messages.group(1)
    assert '<td class="right">30</td>' in messages.group(1)
    # A leaf has no allocation section.
    leaf = client_for("a_owner").get(url(pages.a_grandchild)).content.decode()
    assert 'id="allocation"' not in leaf


def test_the_tab_is_in_the_account_header(pages, client_for):
    html = client_for("a_viewer").get(f"/accounts/{pages.a_child.public_id}/").content.decode()
    assert f'href="/accounts/{pages.a_child.public_id}/usage/"' in html


def test_the_tab_takes_a_bounded_number_of_queries(
    pages, client_for, django_assert_max_num_queries
):
    from tests.factories import make_tenant

    for number in range(200):
        tenant = make_tenant(pages.partner_a)
        tenant.limits = {"messages": number + 1}
        tenant.save()
        make_usage(tenant, messages=number)
    client = client_for("a_owner")
    client.get(url(pages.partner_a))  # a process's first page fills its caches (brands)
    with django_assert_max_num_queries(25):
        response = client.get(url(pages.partner_a))
    assert response.status_code == 200
