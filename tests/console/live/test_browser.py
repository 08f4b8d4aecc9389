"""The console in Debian's chromium: a reply streams token by token, the meter moves, a limit
shows its card, and a background job survives a reload (replayed, then live).

The world is requested before the page: its database setup must run before Playwright's
event loop starts in this thread (see ``prepared``). Timestamps are taken in the page, so
"the first token shows long before the last" is measured where the person sees it.
Screenshots and the timings go to test-artifacts/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tenants.console.models import ConversationJob
from tenants.models import Account
from tests.console.live.helpers import make_bot
from tests.fixtures.browser import ARTIFACTS, login, screenshot
from tests.limits.live.helpers import limited_tenant
from tests.processes import celery_worker, wait_for

pytestmark = pytest.mark.browser

# Records, in the page's own clock (every 5 ms), when the newest reply got its first text and
# when its turn ended (its foot became "done").
WATCH_TRANSCRIPT = """
() => {
  window.__marks = {};
  const started = performance.now();
  const watch = setInterval(() => {
    const replies = document.querySelectorAll('#transcript .bubble.bot');
    const reply = replies[replies.length - 1];
    if (reply && reply.textContent.trim() && window.__marks.first === undefined) {
      window.__marks.first = performance.now() - started;
      window.__marks.firstText = reply.textContent;
    }
    if (document.querySelector('#transcript .turn-foot.done')) {
      window.__marks.end = performance.now() - started;
      clearInterval(watch);
    }
  }, 5);
}
"""


@dataclass
class Prepared:
    bot: str
    tenant_of_one_turn: Account


@pytest.fixture(scope="module", autouse=True)
def prepared(world, people) -> Prepared:
    """What the tests need made before the browser starts: onboarding a tenant calls the
    upstream on an event loop of its own, which cannot run once Playwright's runs in this
    thread (autouse module fixtures are set up before the module's browser)."""
    return Prepared(
        bot=make_bot(world, world.a_child, "Chromium bot"),
        # One turn: the text and the reply are two messages upstream (and here).
        tenant_of_one_turn=limited_tenant(world, messages=2),
    )


def _used(page, unit: str) -> int:
    return int(page.locator(f'#console-meter tr[data-unit="{unit}"] td.used').inner_text())


def test_a_reply_streams_into_the_page_token_by_token_and_the_meter_moves(
    world, people, prepared, page, live_portal
):
    world.sandbox.configure(tokenDelayMs=80)
    bot = prepared.bot
    login(page, live_portal, people.support)

    page.goto("/console/")
    page.get_by_label("Search").fill("A Child")
    page.locator("#account-choices tr", has_text="A Child").get_by_role(
        "link", name="Open console"
    ).click()
    page.get_by_label("Bot", exact=True).select_option(bot)
    messages_before = _used(page, "messages")
    page.evaluate(WATCH_TRANSCRIPT)
    page.get_by_label("Message").fill("Tell me a story [sandbox:words=40]")
    page.get_by_role("button", name="Send").click()

    page.wait_for_selector("#transcript .turn-foot.done", timeout=30_000)
    marks = page.evaluate("window.__marks")
    reply = page.locator("#transcript .bubble.bot").last.inner_text()
    screenshot(page, "console-streamed-turn")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "console-timing.json").write_text(json.dumps(marks, indent=2))

    # The first token was on screen long before the last one arrived.
    assert marks["first"] < marks["end"] - 1500, marks
    assert len(marks["firstText"]) < len(reply) / 4
    assert "You said" in reply
    assert page.locator("#transcript .turn-foot.done .usage").inner_text().endswith("ended: stop")
    assert _used(page, "messages") == messages_before + 2  # the text and the reply
    # The next message continues the same conversation.
    assert page.locator("#console-setup .conversation").is_visible()


def test_stop_ends_the_turn_in_the_page(world, people, page, live_portal):
    world.sandbox.configure(tokenDelayMs=150)
    before = world.sandbox.state()["streams"]
    login(page, live_portal, people.support)
    page.goto(f"/console/?account={world.a_child.public_id}")
    page.get_by_label("Message").fill("A long one please [sandbox:words=60]")
    page.get_by_role("button", name="Send").click()
    page.wait_for_function(
        "(document.querySelector('#transcript .bubble.bot')?.textContent || '').length > 10"
    )

    page.get_by_role("button", name="Stop").click()

    page.wait_for_selector("#transcript .turn-foot.done .stopped", timeout=5_000)
    screenshot(page, "console-stopped-turn")
    wait_for(
        lambda: world.sandbox.state()["streams"]["streamsAborted"] == before["streamsAborted"] + 1,
        3,
        "the upstream stream to be closed",
    )


def test_a_refused_limit_shows_the_limit_card(world, people, prepared, page, live_portal):
    tenant = prepared.tenant_of_one_turn
    login(page, live_portal, people.support)
    page.goto(f"/console/?account={tenant.public_id}")

    for text in ("first", "second"):
        page.get_by_label("Message").fill(text)
        page.get_by_role("button", name="Send").click()
        page.wait_for_function(
            "n => document.querySelectorAll('#transcript .turn-foot.done').length === n",
            arg=1 if text == "first" else 2,
        )

    card = page.locator("#transcript .limit-card")
    assert card.is_visible()
    assert "Limit reached: messages" in card.inner_text()
    assert card.locator(".limit-used").inner_text() == "2 / 2"
    assert card.locator(".limit-level").inner_text() == tenant.name
    assert _used(page, "messages") == 2
    screenshot(page, "console-limit-card")


def test_a_background_job_replays_after_a_reload_and_finishes_live(
    world, people, page, live_portal
):
    world.sandbox.configure(tokenDelayMs=150)
    login(page, live_portal, people.support)
    with celery_worker():
        page.goto(f"/console/?account={world.a_child.public_id}")
        page.get_by_label("Message").fill("In the background [sandbox:words=40]")
        page.get_by_role("button", name="Run in background").click()
        page.wait_for_function(
            "(document.querySelector('#transcript .bubble.bot')?.textContent || '').length > 20",
            timeout=30_000,
        )
        page.get_by_role("link", name="Job page").first.click()
        page.wait_for_url("**/console/jobs/job_*/")
        page.wait_for_function(
            "(document.querySelector('.transcript .bubble.bot')?.textContent || '').length > 40"
        )
        before_reload = page.locator(".transcript .bubble.bot").inner_text()
        screenshot(page, "console-job-before-reload")

        page.reload()
        # Replayed at once: at least what the page showed before the reload.
        page.wait_for_function(
            "n => document.querySelector('.transcript .bubble.bot').textContent.length >= n",
            arg=len(before_reload),
            timeout=3_000,
        )
        assert page.locator(".transcript .bubble.bot").inner_text().startswith(before_reload)
        page.wait_for_selector(".transcript .turn-foot.done", timeout=30_000)

    job = ConversationJob.objects.get(public_id=page.url.rstrip("/").split("/")[-1])
    assert job.status == ConversationJob.Status.SUCCEEDED
    assert page.locator(".transcript .bubble.bot").inner_text() == job.reply
    assert page.locator("#job-status .badge").text_content() == "Succeeded"
    screenshot(page, "console-job-after-reload")
