"""The bot pickers (console, widget key): an account's bots past one page, in one call."""

from __future__ import annotations

from asgiref.sync import async_to_sync

from tenants.console import calls
from tenants.console.acting import ConsoleActor
from tenants.models import Role
from tests.console.live.helpers import logged_in, make_bot
from tests.factories import make_member, make_user
from tests.limits.live.helpers import limited_tenant


def test_more_bots_than_a_page_are_listed_newest_first(world, people):
    tenant = limited_tenant(world)
    made = [make_bot(world, tenant, f"Bot {number}") for number in range(105)]

    bots = async_to_sync(calls.list_bots)(ConsoleActor.of(people.support, tenant))

    # A JSON page holds at most 100: the JSONL list walked the upstream's pages itself.
    assert [bot["id"] for bot in bots.items] == made[::-1]
    assert bots.problem is None
    assert not bots.more


def test_past_what_a_picker_shows_the_newest_are_listed_and_the_rest_is_said(
    world, people, monkeypatch
):
    tenant = limited_tenant(world)
    made = [make_bot(world, tenant, f"Bot {number}") for number in range(4)]
    monkeypatch.setattr(calls, "BOTS_SHOWN", 3)

    bots = async_to_sync(calls.list_bots)(ConsoleActor.of(people.support, tenant))

    assert [bot["id"] for bot in bots.items] == made[::-1][:3]
    assert bots.more


def test_a_bot_from_a_link_stays_choosable_when_it_is_not_listed(
    world, portal, people, monkeypatch
):
    tenant = limited_tenant(world)
    oldest, *_ = [make_bot(world, tenant, f"Bot {number}") for number in range(3)]
    monkeypatch.setattr(calls, "BOTS_SHOWN", 2)

    with logged_in(portal.url, people.support) as http:
        page = http.get(f"/console/?account={tenant.public_id}&bot={oldest}").text

    assert f'<option value="{oldest}" selected>{oldest}</option>' in page
    assert "The 2 newest bots are listed" in page


def test_the_widget_key_form_takes_a_typed_bot_id_when_not_all_bots_fit(
    world, portal, people, monkeypatch
):
    tenant = limited_tenant(world)
    for number in range(3):
        make_bot(world, tenant, f"Bot {number}")
    monkeypatch.setattr(calls, "BOTS_SHOWN", 2)
    admin = make_user()
    make_member(admin, tenant, Role.ADMIN)

    with logged_in(portal.url, admin) as http:
        page = http.get(f"/accounts/{tenant.public_id}/widget/new/").text

    assert f"{tenant.name} has more than 2 bots" in page
    assert '<input type="text" name="bot_id"' in page
