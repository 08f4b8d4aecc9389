"""A background job followed over SSE: replayed from its channel, then live, as a page gets it."""

from __future__ import annotations

import threading
import time

from tenants.console.models import ConversationJob
from tests.console.live.helpers import logged_in, new_job, parse_sse, read_stream, run_in_thread
from tests.processes import wait_for

Status = ConversationJob.Status


def _running_job(world, person, message: str) -> tuple[ConversationJob, threading.Thread]:
    job = new_job(world.a_child, person, message)
    return job, run_in_thread(job)


def test_a_page_opened_mid_job_replays_what_was_published_then_follows_live(world, portal, people):
    world.sandbox.configure(tokenDelayMs=100)
    job, worker = _running_job(world, people.support, "go on [sandbox:words=40]")
    url = f"/console/jobs/{job.public_id}/stream/"
    try:
        with logged_in(portal.url, people.support) as http:
            # A first page sees a few tokens, then is closed (a reload).
            seen = []
            with http.stream("GET", url) as response:
                for message in parse_sse(response.iter_lines(), time.monotonic()):
                    if message.event == "token":
                        seen.append(message)
                        if len(seen) == 5:
                            break
            # The reloaded page: everything so far at once, then the rest as it streams.
            reloaded = read_stream(http, url)
    finally:
        worker.join(30)

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert reloaded.messages[0].event == "token-reset"
    tokens = reloaded.of("token")
    assert [m.data for m in tokens[:5]] == [m.data for m in seen]
    assert len(tokens) == job.progress_tokens
    assert reloaded.text == job.reply
    # Replayed at once, then paced by the upstream.
    assert tokens[4].at < 0.5
    assert tokens[-1].at - tokens[5].at > 0.05 * (len(tokens) - 6)
    end = reloaded.end
    assert 'data-outcome="result"' in end
    assert 'id="job-status" class="card" hx-swap-oob="true"' in end
    assert "Succeeded" in end


def test_a_reconnecting_browser_resumes_after_the_last_event_it_saw(world, portal, people):
    job, worker = _running_job(world, people.support, "short")
    worker.join(30)
    url = f"/console/jobs/{job.public_id}/stream/"
    with logged_in(portal.url, people.support) as http:
        whole = read_stream(http, url)
        third = whole.of("token")[2]
        resumed = read_stream(http, url, headers={"Last-Event-ID": third.id})

    assert resumed.of("token-reset") == []
    assert [m.data for m in resumed.of("token")] == [m.data for m in whole.of("token")[3:]]
    assert 'data-outcome="result"' in resumed.end


def test_a_job_whose_channel_is_gone_ends_from_its_row(world, portal, people):
    job = new_job(
        world.a_child,
        people.support,
        "old",
        status=Status.FAILED,
        error_code="UPSTREAM_DOWN",
        error_message="It was down.",
    )
    with logged_in(portal.url, people.support) as http:
        started = time.monotonic()
        stream = read_stream(http, f"/console/jobs/{job.public_id}/stream/")
    assert "It was down." in stream.end
    assert time.monotonic() - started < 8


def test_other_people_cannot_follow_or_cancel_a_job(world, portal, people):
    job, worker = _running_job(world, people.support, "private")
    worker.join(30)
    for person in (people.b_owner, people.viewer):
        with logged_in(portal.url, person) as http:
            assert read_stream(http, f"/console/jobs/{job.public_id}/stream/").status == 404
            assert http.get(f"/console/jobs/{job.public_id}/").status_code == 404
            assert http.post(f"/console/jobs/{job.public_id}/cancel/").status_code == 404
    with logged_in(portal.url, people.tenant_owner) as http:  # the tenant reads its own jobs
        assert http.get(f"/console/jobs/{job.public_id}/").status_code == 200


def test_the_job_list_shows_progress_and_refreshes_while_a_job_runs(world, portal, people):
    world.sandbox.configure(tokenDelayMs=100)
    job, worker = _running_job(world, people.support, "progress [sandbox:words=30]")
    try:
        wait_for(
            lambda: ConversationJob.objects.filter(pk=job.pk, status=Status.RUNNING).exists(),
            10,
            "the job to start",
        )
        with logged_in(portal.url, people.support) as http:
            listed = http.get("/console/jobs/").text
    finally:
        worker.join(30)
    row = listed.split(f'data-job="{job.public_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-status="running"' in row
    assert 'hx-trigger="every 2s"' in listed
