"""The streaming console: pick an account (and a bot), chat, watch the reply arrive token by token.

    GET  /console/                         the page: account picker, or the chat as that account
    POST /console/turns/                   a message → the turn's markup, which opens its stream
    GET  /console/turns/<id>/stream/       SSE: the turn run through the proxy pipeline
    POST /console/turns/<id>/stop/         Stop: the stream ends the turn and closes upstream
    GET  /console/meter/?account=          the quota meter alone

Who may act as which account is decided in one place, ``tenants.console.acting``; every
upstream call goes through ``tenants.console.calls.console_call`` (the proxy's own pipeline).
The stream is an async view: Django cancels it when the browser leaves, which closes the
upstream stream and records the partial usage, as for any client of the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from tenants import access
from tenants.console import turns
from tenants.console.acting import ConsoleActor, console_account_choices, resolve_console_account
from tenants.console.calls import Bots, Turn, list_bots, run_turn
from tenants.forms.console import ConsoleTurnForm
from tenants.metering import default_buffer
from tenants.models import Account
from tenants.proxy.internal import UPSTREAM_ID
from tenants.views.console_stream import TurnStream, render_turn_end, sse_response
from tenants.views.http import INVALID, HtmxHttpRequest, render_page
from tenants.views.usage import period_quotas

CHOICES_SHOWN = 50
JOBS_SHOWN = 5


async def person_of(request: HtmxHttpRequest) -> User:
    """The logged-in person (the views are ``login_required``), resolved once and kept as
    ``request.user``: otherwise an error page, which Django renders for an async view on a
    thread of its own, would load the user again there and leave that thread's database
    connection open."""
    person = await request.auser()
    request.user = person
    assert isinstance(person, User)
    return person


def _page_context(request: HtmxHttpRequest) -> dict[str, Any]:
    ref = request.GET.get("account", "").strip()
    if not ref:
        query = request.GET.get("q", "")[:100]
        choices = list(console_account_choices(request, query)[: CHOICES_SHOWN + 1])
        return {"account": None, "q": query, "choices": choices, "choices_shown": CHOICES_SHOWN}
    account = resolve_console_account(request, ref)
    # From a link (a job's "Continue in the console"): ids the next turn's form checks again.
    bot, conversation = request.GET.get("bot", ""), request.GET.get("conversation", "")
    return {
        "account": account,
        **period_quotas(request, account),
        "bot": bot if UPSTREAM_ID.match(bot) else "",
        "conversation_id": conversation if UPSTREAM_ID.match(conversation) else "",
        "jobs": list(
            access.conversation_jobs_for(request.user)
            .filter(account=account)
            .order_by("-created_at", "-pk")[:JOBS_SHOWN]
        ),
    }


@login_required
@require_GET
async def console(request: HtmxHttpRequest) -> HttpResponse:
    person = await person_of(request)
    context = await sync_to_async(_page_context)(request)
    account: Account | None = context["account"]
    partial = "choices" if request.htmx and request.htmx.target == "account-choices" else None
    if account is not None and partial is None:
        actor = ConsoleActor.of(person, account)
        bots: Bots = await list_bots(actor)
        context["bots"] = bots.items
        context["bots_problem"] = bots.problem
        context["bots_more"] = bots.more
        # A bot from a link that is not among those listed (an older one) stays choosable.
        bot = context["bot"]
        context["bot_unlisted"] = bool(bot) and all(item.get("id") != bot for item in bots.items)
    return await sync_to_async(render_page)(
        request, "console/console.html", context, partial=partial
    )


@login_required
@require_GET
def meter(request: HtmxHttpRequest) -> HttpResponse:
    account = resolve_console_account(request, request.GET.get("account", ""))
    context = {"account": account, **period_quotas(request, account)}
    return render(request, "console/_meter.html", context)


def posted_turn(request: HtmxHttpRequest) -> tuple[Account, Turn] | HttpResponse:
    """The account a posted turn acts as and the turn, or the card of why it cannot start
    (status 422, shown in the transcript). For Send and for Run in background alike."""
    account = resolve_console_account(request, request.POST.get("account", ""))
    form = ConsoleTurnForm(request.POST)
    if not form.is_valid():
        context = {"message": form.problem()}
        return render(request, "console/_turn_refused.html", context, status=INVALID)
    return account, form.turn()


@login_required
@require_POST
def turn_start(request: HtmxHttpRequest) -> HttpResponse:
    posted = posted_turn(request)
    if isinstance(posted, HttpResponse):
        return posted
    account, turn = posted
    pending = turns.save_turn(
        person_id=int(request.user.pk or 0), account_public_id=account.public_id, turn=turn
    )
    context = {
        "dom_id": f"turn-{pending.id}",
        "message": pending.turn.message,
        "stream_url": reverse("tenants:console-turn-stream", args=[pending.id]),
        "stop_url": reverse("tenants:console-turn-stop", args=[pending.id]),
    }
    return render(request, "console/_turn.html", context)


@login_required
@require_GET
async def turn_stream(request: HtmxHttpRequest, turn_id: str) -> HttpResponseBase:
    person = await person_of(request)
    pending = await turns.load_turn(turn_id, person.pk)
    if pending is None:
        raise Http404("No such turn")
    account = await sync_to_async(resolve_console_account)(request, pending.account_public_id)
    actor = ConsoleActor.of(person, account)
    claimed = await turns.claim_turn(turn_id)
    return sse_response(_turn_events(request, pending, actor, account, claimed=claimed))


async def _turn_events(
    request: HtmxHttpRequest,
    pending: turns.PendingTurn,
    actor: ConsoleActor,
    account: Account,
    *,
    claimed: bool,
) -> AsyncIterator[bytes]:
    stream = TurnStream(
        dom_id=f"turn-{pending.id}",
        bot_id=pending.turn.bot_id,
        conversation_id=pending.turn.conversation_id,
    )
    if not claimed:
        # A browser reconnecting to a turn that already ran (or a second tab): never twice.
        stream.end = {
            "type": "error",
            "data": {
                "message": "This turn already ran; the connection to it was lost. "
                "Send the message again to get a new answer.",
                "code": "TURN_ALREADY_RAN",
            },
        }
    else:
        stop = asyncio.Event()
        watcher = asyncio.create_task(turns.watch_for_stop(pending.id, stop))
        try:
            async with contextlib.aclosing(
                run_turn(actor, pending.turn, stop=stop, correlation_id=pending.id)
            ) as events:
                async for event in events:
                    chunk = stream.feed(event)
                    if chunk:
                        yield chunk
        finally:
            watcher.cancel()
        # The turn's usage sits in this worker's buffer: written now, the meter counts it.
        await default_buffer().flush()
    yield await sync_to_async(render_turn_end)(
        request, stream, account, correlation_id=pending.id, in_console=True
    )


@login_required
@require_POST
async def turn_stop(request: HtmxHttpRequest, turn_id: str) -> HttpResponse:
    person = await person_of(request)
    if await turns.load_turn(turn_id, person.pk) is None:
        raise Http404("No such turn")
    await sync_to_async(turns.request_stop)(turn_id)
    # The stream answers: it ends the turn with what had arrived and updates the meter.
    return HttpResponse(status=204)
