"""Scopes: resource:action, wildcards, and the catalogue's validation."""

from __future__ import annotations

import pytest

from tenants.credentials import ScopeError, catalogue, explain, scope_allows, validate_scopes


@pytest.mark.parametrize(
    ("granted", "needed", "allowed"),
    [
        (["conversation:list"], "conversation:list", True),
        (["conversation:list"], "conversation:fetch", False),
        (["conversation:*"], "conversation:complete", True),
        (["conversation:*"], "bot:list", False),
        (["*:list"], "bot:list", True),
        (["*:list"], "usage:list", True),
        (["*:list"], "bot:fetch", False),
        (["*"], "anything:at-all", True),
        (["*:*"], "bot:delete", True),
        ([], "bot:list", False),
        (["bot:fetch", "usage:*"], "usage:fetch", True),
    ],
)
def test_scope_allows_exact_scopes_and_wildcards(granted, needed, allowed):
    assert scope_allows(granted, needed) is allowed


def test_valid_scopes_are_kept_in_order_without_duplicates_and_star_star_becomes_star():
    assert validate_scopes(["bot:list", "conversation:*", "bot:list", "*:fetch", "*:*"]) == [
        "bot:list",
        "conversation:*",
        "*:fetch",
        "*",
    ]


@pytest.mark.parametrize(
    ("scope", "says"),
    [
        ("bots:list", "there is no resource 'bots'"),
        ("bot:stream", "bot has no action 'stream'"),
        ("*:explode", "no resource has an action 'explode'"),
        ("conversation", "write resource:action"),
        ("conversation:", "write resource:action"),
        (":list", "write resource:action"),
        ("a:b:c", "write resource:action"),
    ],
)
def test_unknown_or_malformed_scopes_are_refused_with_a_message_naming_the_problem(scope, says):
    with pytest.raises(ScopeError) as error:
        validate_scopes([scope])
    assert says in str(error.value)


def test_the_catalogue_explains_every_scope_and_covers_the_upstream_route_families():
    resources = {entry["resource"] for entry in catalogue()}
    assert {"bot", "conversation", "message", "channel", "usage", "user", "token"} <= resources
    assert {"session", "dataset", "context"} <= resources
    for entry in catalogue():
        for action in entry["actions"]:  # type: ignore[attr-defined]
            assert validate_scopes([action["scope"]]) == [action["scope"]]
            assert explain(action["scope"])
    assert explain("*")
    assert explain("conversation:*")
    assert explain("*:list")
