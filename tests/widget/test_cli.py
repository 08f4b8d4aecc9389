"""manage.py issue_widget_key prints the key and nothing else; the key chats from its origins."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants.credentials import authenticate_sync
from tenants.models import Token
from tests.widget.helpers import chat, events


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("issue_widget_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_only_a_working_widget_key(world, bots, client):
    out, err = run(
        "--account",
        world.a_child.public_id,
        "--bot",
        bots.a_child,
        "--origin",
        "https://Shop.Example",
        "--origin",
        "http://localhost:3000",
        "--session-rpm",
        "7",
    )

    key = out.strip()
    assert out == key + "\n"
    assert err == ""
    record = authenticate_sync(key)
    assert (record.kind, record.scopes, record.bot_ids) == (
        "widget",
        ("chat:stream",),
        (bots.a_child,),
    )
    assert record.allowed_origins == ("http://localhost:3000", "https://shop.example")
    assert record.session_rpm == 7
    response = chat(client, key, headers={"Origin": "http://localhost:3000"})
    assert events(response)[-1]["type"] == "done"


def test_it_finds_the_account_by_slug(world, bots):
    out, _ = run(
        "--account", world.a_child.slug, "--bot", bots.a_child, "--origin", "https://a.example"
    )

    assert Token.objects.get(token_id=out.strip()[4:20]).account_id == world.a_child.pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--origin", "https://shop.example/path"], "without a path"),
        (["--origin", "*"], "wildcards"),
        (["--origin", "https://shop.example", "--bot-override"], None),
    ],
)
def test_bad_arguments_are_refused_with_a_message(world, bots, args, message):
    arguments = ["--account", world.a_child.public_id, "--bot", bots.a_child, *args]
    if message is None:
        with pytest.raises(CommandError):
            run(*arguments)
        return
    with pytest.raises(CommandError, match=message):
        run(*arguments)


def test_an_unknown_account_is_refused(bots):
    with pytest.raises(CommandError, match="No account has the id or slug 'nobody'"):
        run("--account", "nobody", "--bot", bots.a_child, "--origin", "https://x.example")


def test_another_partners_bot_is_refused(world, bots):
    with pytest.raises(CommandError, match=f"has no bot {bots.b_child}"):
        run("--account", world.a_child.public_id, "--bot", bots.b_child, "--origin", "https://x.y")
