"""The console's pages without an upstream: who sees what, bad input, jobs read from their rows.

The permission matrix of every console endpoint is in tests/pages/test_permissions.py; the
streams and the jobs against the live sandbox are in tests/console/live/.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.console.models import ConversationJob
from tenants.models import Account

pytestmark = pytest.mark.django_db

Status = ConversationJob.Status


def names_offered(content: bytes) -> set[str]:
    table = content.decode().split('id="account-choices"', 1)[1]
    return set(re.findall(r"<tr>\s*<td>([^<]+?)(?: <span|</td>)", table))


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("a_support", {"Partner A", "A Child", "A Grandchild", "A Sibling"}),
        ("tenant_user", {"A Child", "A Grandchild"}),  # its own subtree only
        ("b_owner", {"Partner B", "B Child"}),
        ("a_viewer", set()),  # viewers do not spend an account's quota
        ("outsider", set()),
    ],
)
def test_the_picker_offers_the_accounts_the_person_may_act_as(pages, client_for, persona, expected):
    response = client_for(persona).get("/console/")
    assert response.status_code == 200
    assert names_offered(response.content) == expected


def test_the_picker_searches_and_leaves_closed_accounts_out(pages, client_for):
    Account.objects.filter(pk=pages.a_sibling.pk).update(status=Account.Status.CLOSED)
    client = client_for("a_support")

    found = client.get("/console/", {"q": "child"}, headers={"HX-Target": "account-choices"})
    everything = client.get("/console/")

    assert names_offered(found.content) == {"A Child", "A Grandchild"}
    assert "A Sibling" not in names_offered(everything.content)
    assert client.get(f"/console/?account={pages.a_sibling.public_id}").status_code == 404


def test_the_account_page_offers_try_it_to_support_and_up_only(pages, client_for):
    url = f"/accounts/{pages.a_child.public_id}/"
    try_it = f'href="/console/?account={pages.a_child.public_id}">Try it</a>'
    assert try_it in client_for("a_support").get(url).content.decode()
    assert try_it not in client_for("a_viewer").get(url).content.decode()


def test_the_navigation_links_the_console(pages, client_for):
    assert 'href="/console/">Console</a>' in client_for("a_viewer").get("/").content.decode()


def test_the_console_works_when_the_bots_cannot_be_listed(pages, client_for):
    response = client_for("a_support").get(f"/console/?account={pages.a_child.public_id}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "The bots could not be listed" in page
    assert 'name="message"' in page
    assert 'id="console-meter"' in page
    assert 'src="/static/js/vendor/htmx-ext-sse.js"' in page


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"message": "   "}, "Write a message first."),
        ({"message": "hi", "conversation": "../secret/list"}, "Not an upstream id."),
        ({"message": "hi", "bot": "a/b"}, "Not an upstream id."),
        ({"message": "hi", "model": "gpt 5; drop"}, "Not a model name"),
        ({"message": "x" * 8001}, "at most 8000 characters"),
    ],
)
def test_a_turn_that_cannot_start_says_why_in_the_transcript(pages, client_for, fields, says):
    for url in ("/console/turns/", "/console/jobs/new/"):
        response = client_for("a_support").post(url, {"account": pages.a_child.public_id, **fields})
        assert response.status_code == 422
        assert says in response.content.decode()
    assert not ConversationJob.objects.exists()


def test_a_turn_answers_with_the_markup_that_opens_its_stream(pages, client_for):
    response = client_for("a_support").post(
        "/console/turns/", {"account": pages.a_child.public_id, "message": "<b>hi</b>"}
    )
    page = response.content.decode()
    assert re.search(r'sse-connect="/console/turns/[\w-]+/stream/" sse-close="turn-end"', page)
    assert "&lt;b&gt;hi&lt;/b&gt;" in page  # the message is shown as text


def test_run_in_background_queues_a_job_for_the_person(pages, client_for):
    response = client_for("tenant_user").post(
        "/console/jobs/new/",
        {"account": pages.a_grandchild.public_id, "message": "later", "model": "gpt-5.4"},
    )
    job = ConversationJob.objects.get()
    assert (job.account, job.person, job.status, job.model) == (
        pages.a_grandchild,
        pages.tenant_user,
        Status.QUEUED,
        "gpt-5.4",
    )
    assert f'sse-connect="/console/jobs/{job.public_id}/stream/?in=console"' in (
        response.content.decode()
    )


def _job(account: Account, person, message: str = "m", **fields) -> ConversationJob:
    return ConversationJob.objects.create(
        account=account,
        person=person,
        person_label=person.get_username(),
        message=message,
        **fields,
    )


def test_the_job_list_shows_only_jobs_in_reach(pages, client_for):
    _job(pages.a_child, pages.a_support, message="ran for A's child")
    _job(pages.b_child, pages.b_owner, message="ran for B's child")

    own = client_for("tenant_user").get("/console/jobs/").content.decode()
    other = client_for("b_owner").get("/console/jobs/").content.decode()

    assert "ran for A&#x27;s child" in own
    assert "ran for B" not in own
    assert "ran for B&#x27;s child" in other
    assert "ran for A" not in other


def test_a_job_whose_worker_died_reads_as_failed_with_the_reason(pages, client_for):
    now = timezone.now()
    job = _job(
        pages.a_child,
        pages.a_support,
        status=Status.RUNNING,
        started_at=now - timedelta(minutes=3),
        heartbeat_at=now - timedelta(minutes=2),
    )

    page = client_for("a_support").get(f"/console/jobs/{job.public_id}/").content.decode()

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "WORKER_LOST")
    assert "The worker running this job stopped" in page
    assert "sse-connect" not in page  # nothing left to follow


def test_a_finished_job_refused_by_a_limit_shows_the_limit_card(pages, client_for):
    job = _job(
        pages.a_child,
        pages.a_support,
        status=Status.FAILED,
        finished_at=timezone.now(),
        error_code="LIMITS_REACHED",
        error_message="A Child has used its 5 messages for November.",
        error_limit={
            "account": pages.a_child.public_id,
            "name": "messages",
            "limit": 5,
            "used": 5,
            "resetAt": 1_900_000_000_000,
        },
    )

    page = client_for("a_support").get(f"/console/jobs/{job.public_id}/").content.decode()

    assert "Limit reached: messages" in page
    assert '<dd class="limit-used">5 / 5</dd>' in page
    assert '<dd class="limit-level">A Child</dd>' in page
    assert '<dd class="limit-reset">17 March 2030 17:46 UTC</dd>' in page


def test_a_tenant_sees_a_limit_of_its_partner_as_its_providers(pages, client_for):
    job = _job(
        pages.a_child,
        pages.tenant_user,
        status=Status.FAILED,
        finished_at=timezone.now(),
        error_code="LIMITS_REACHED",
        error_limit={"account": pages.partner_a.public_id, "name": "tokens", "limit": 9, "used": 9},
    )
    page = client_for("tenant_user").get(f"/console/jobs/{job.public_id}/").content.decode()
    assert '<dd class="limit-level">your provider</dd>' in page
    assert "Partner A" not in page
