"""The chat widget in Chromium: a site on another origin embeds the portal's script with one
<script> tag and chats, the reply streaming into the page token by token; seed 001's own
``fetch`` reader runs in that page; a site on an origin the key does not list is refused by the
browser itself; and the key's page in the portal previews the widget live."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connections

from tenants.models import Role, Token
from tenants.services.tokens import IssuedToken
from tenants.services.widget_keys import issue_widget_key
from tests.factories import make_member, make_user
from tests.fixtures.browser import login, screenshot
from tests.fixtures.sandbox import free_port
from tests.widget.helpers import make_bot

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _sandbox_pace(world) -> Iterator[None]:
    config = world.sandbox.state()["config"]
    yield
    world.sandbox.configure(**config)


class _Pages(http.server.BaseHTTPRequestHandler):
    pages: dict[str, str] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Site:
    """A customer's site: a tiny HTTP server on its own port, so on another origin than the
    portal; reached as ``http://localhost:<port>`` (listed by the key) and as
    ``http://127.0.0.1:<port>`` (another origin, not listed)."""

    port: int
    key: str
    key_id: str

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def unlisted_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _shop_page(portal_url: str, key: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Shop</title></head>
<body>
  <h1>Acme Shop</h1>
  <p>Our products are the best.</p>
  <script>
    // When each event reached the page (ms), as a visitor would see it.
    window.timeline = [];
    for (const type of ["start", "token", "done", "error"]) {{
      document.addEventListener("chatwidget:" + type, (event) => {{
        window.timeline.push({{type, at: performance.now(), detail: event.detail}});
      }});
    }}
  </script>
  <script src="{portal_url}/widget/chat.js" data-key="{key}" data-title="Acme help"
          data-greeting="Hi! Ask me anything." async></script>
</body></html>"""


@pytest.fixture(scope="module")
def site(world, portal) -> Iterator[Site]:
    port = free_port()
    bot_id = make_bot(world, world.a_child, "Shop bot")

    def issue() -> IssuedToken:
        try:
            return issue_widget_key(
                world.a_child,
                bot_id=bot_id,
                origins=[f"http://localhost:{port}"],
                session_rpm=100,
                actor=None,
            )
        finally:
            connections.close_all()  # this thread's: PostgreSQL drops no database in use

    # Issued in a thread of its own: the service checks the bot upstream with its own event
    # loop, and Playwright keeps one running in this thread.
    with ThreadPoolExecutor(1) as pool:
        issued = pool.submit(issue).result()
    _Pages.pages = {"/": _shop_page(portal.url, issued.plaintext), "/blank": "<!doctype html>"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(port, issued.plaintext, issued.token.token_id)
    finally:
        server.shutdown()
        server.server_close()


def _send(page, text: str) -> None:
    box = page.locator("textarea")
    box.fill(text)
    box.press("Enter")


def test_a_site_embedding_the_script_chats_and_sees_the_reply_stream_in(world, site, page):
    world.sandbox.configure(tokenDelayMs=80)
    page.goto(site.url)
    page.locator("button.launcher").click()
    assert page.get_by_text("Hi! Ask me anything.").is_visible()

    _send(page, "Tell me about your products [sandbox:words=30]")

    # The first token is on screen while the reply is still streaming.
    page.wait_for_function("() => window.timeline.some((e) => e.type === 'token')")
    streaming = page.locator(".msg.bot.streaming .text")
    partial = streaming.inner_text()
    assert partial
    page.wait_for_function("() => window.timeline.some((e) => e.type === 'done')", timeout=20_000)
    reply = page.locator(".msg.bot .text").last.inner_text()
    timeline = page.evaluate("window.timeline")
    screenshot(page, "widget-shop-chat")

    assert reply.startswith('[sandbox] You said: "Tell me about your products')
    assert reply.startswith(partial.rstrip("▍"))
    assert len(partial) < len(reply)
    kinds = [event["type"] for event in timeline]
    assert kinds[0] == "start"
    assert kinds[-1] == "done"
    assert kinds.count("token") >= 20
    first_token = next(event["at"] for event in timeline if event["type"] == "token")
    done = timeline[-1]["at"]
    # Tokens arrive 80 ms apart upstream: shown as they come, not all at once at the end.
    assert done - first_token >= 0.08 * 1000 * (kinds.count("token") - 1) * 0.5
    assert timeline[-1]["detail"]["message"] == reply
    assert page.locator(".msg.bot.streaming").count() == 0


def test_the_visitor_continues_the_same_conversation_after_a_reload(site, page):
    page.goto(site.url)
    page.locator("button.launcher").click()
    _send(page, "My name is Ada")
    page.wait_for_function("() => window.timeline.some((e) => e.type === 'done')")
    first = page.evaluate("window.timeline.find((e) => e.type === 'start').detail")

    page.reload()
    page.locator("button.launcher").click()
    _send(page, "What is my name?")
    page.wait_for_function("() => window.timeline.some((e) => e.type === 'done')")
    second = page.evaluate("window.timeline.find((e) => e.type === 'start').detail")

    assert second["conversationId"] == first["conversationId"]

    # "New chat" starts another conversation.
    page.get_by_role("button", name="New chat").click()
    page.evaluate("window.timeline = []")
    _send(page, "Hello again")
    page.wait_for_function("() => window.timeline.some((e) => e.type === 'done')")
    third = page.evaluate("window.timeline.find((e) => e.type === 'start').detail")
    assert third["conversationId"] != first["conversationId"]


SEED_FETCH_READER = """
async ({url, key}) => {
  // Node's process.stdout and console, captured: the seed's code below is run unchanged.
  const written = [], logged = [];
  const process = {stdout: {write: (text) => written.push(text)}};
  const console = {
    log: (...parts) => logged.push(parts.join(" ")),
    error: (...parts) => logged.push("ERROR " + parts.join(" ")),
  };
  // -- seed 001's fetch example, verbatim but for the URL, the key and the message --
  const response = await fetch(url, {
  method: 'POST',
  headers: {
  'Content-Type': 'application/json',
  'x-api-key': key
  },
  body: JSON.stringify({
  sessionId: 'user-123',
  message: 'Tell me about your services'
  })
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  while (true) {
  const { done, value } = await reader.read();
  if (done) break;
  const chunk = decoder.decode(value);
  const lines = chunk.split('\\n').filter(line => line.trim());
  for (const line of lines) {
  const event = JSON.parse(line);
  switch (event.type) {
  case 'start':
  console.log('Stream started:', event.conversationId);
  break;
  case 'token':
  process.stdout.write(event.token);
  break;
  case 'done':
  console.log('\\nComplete message:', event.message);
  break;
  case 'error':
  console.error('Error:', event.error);
  break;
  }
  }
  }
  // -- end of the seed's code --
  return {written, logged, status: response.status,
          contentType: response.headers.get('content-type')};
}
"""


@pytest.mark.parametrize("path", ["/v1/chat/stream", "/chat"])
def test_the_seeds_fetch_reader_runs_in_the_sites_page(site, page, portal, path):
    page.goto(site.url + "/blank")

    result = page.evaluate(SEED_FETCH_READER, {"url": portal.url + path, "key": site.key})

    assert result["status"] == 200
    assert result["contentType"] == "application/x-ndjson"
    logged = result["logged"]
    assert logged[0].startswith("Stream started: ")
    assert logged[-1].startswith("\nComplete message: [sandbox] You said:")
    assert not [line for line in logged if line.startswith("ERROR")]
    assert logged[-1] == "\nComplete message: " + "".join(result["written"])


def test_a_site_on_an_origin_the_key_does_not_list_is_refused_by_the_browser(site, page):
    page.goto(site.unlisted_url)
    page.locator("button.launcher").click()

    _send(page, "hello?")

    page.get_by_text("The chat cannot be reached right now.").wait_for()
    timeline = page.evaluate("window.timeline")
    assert [event["type"] for event in timeline] == ["error"]
    assert page.locator(".msg.bot .text").count() == 1  # only the greeting


def test_the_keys_page_previews_the_widget_live(world, site, page, portal):
    admin = make_user("widget-browser-admin")
    make_member(admin, world.a_child, Role.ADMIN)
    login(page, portal, admin)
    key = Token.objects.get(token_id=site.key_id)

    page.goto(f"/widget-keys/{key.token_id}/")
    preview = page.locator("#widget-preview")
    preview.get_by_text("This is a preview: ask the bot anything.").wait_for()
    preview.locator("textarea").fill("Does the preview work?")
    preview.locator("textarea").press("Enter")
    preview.get_by_text('[sandbox] You said: "Does the preview work?"', exact=False).wait_for(
        timeout=20_000
    )
    screenshot(page, "widget-key-page-preview")

    assert f"ppw_…{key.last4}" in page.content()
    assert site.key not in page.content()  # the value was shown once, at its making


def test_an_admin_makes_a_key_on_the_page_and_gets_its_snippet_once(world, site, page, portal):
    admin = make_user("widget-browser-maker")
    make_member(admin, world.a_child, Role.ADMIN)
    login(page, portal, admin)

    page.goto(f"/accounts/{world.a_child.public_id}/widget/new/")
    page.locator("select[name=bot_id]").select_option(index=1)
    page.get_by_label("Allowed origins").fill("https://Shop.Example\nhttp://localhost:3000")
    page.get_by_role("button", name="Create widget key").click()
    snippet = page.locator("#widget-snippet")
    snippet.wait_for()
    screenshot(page, "widget-key-issued")

    value = snippet.input_value()
    script = f"{settings.PORTAL_BASE_URL}/widget/chat.js"
    assert value.startswith(f'<script src="{script}" data-key="ppw_')
    assert page.get_by_text("Copy it now: it will not be shown again.").is_visible()
    page.get_by_role("link", name="Copied: open its live preview").click()
    page.locator("#widget-preview").wait_for()
    assert "https://shop.example" in page.locator("#id_origins").input_value()
    # The key's page has the snippet again, with only the key's last four characters.
    assert 'data-key="ppw_…' in page.locator("#widget-snippet").input_value()
