"""allowedRoutes globs of session tokens, as UPSTREAM.md §3.3 defines them."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.credentials import RouteError, routes_allow, validate_routes


@pytest.mark.parametrize("prefix", ["/api/v1/", "/v1/"])
def test_no_list_allows_every_v1_route_under_both_prefixes(prefix):
    assert routes_allow(None, f"{prefix}bot/list")
    assert routes_allow(None, f"{prefix}conversation/abc/complete")


def test_nothing_outside_v1_is_a_route():
    for path in ("/admin/", "/api/v2/bot/list", "/v1", "/api/v1/", "/v1bot/list"):
        assert not routes_allow(None, path)


def test_an_empty_list_blocks_every_route():
    assert not routes_allow([], "/api/v1/bot/list")
    assert not routes_allow([], "/v1/usage/fetch")


def test_a_pattern_without_prefix_applies_under_both_prefixes():
    routes = ["bot/**"]
    assert routes_allow(routes, "/api/v1/bot/list")
    assert routes_allow(routes, "/v1/bot/abc/fetch")
    assert not routes_allow(routes, "/v1/conversation/list")


def test_a_pattern_with_one_prefix_names_the_same_routes_under_the_other():
    routes = ["/api/v1/bot/**"]
    assert routes_allow(routes, "/v1/bot/list")
    assert routes_allow(routes, "/api/v1/bot/list")


def test_star_stays_within_one_segment_and_double_star_crosses_segments():
    assert routes_allow(["/api/v1/bot/*"], "/api/v1/bot/list")
    assert not routes_allow(["/api/v1/bot/*"], "/api/v1/bot/abc/fetch")
    assert routes_allow(["/api/v1/conversation/*/complete"], "/v1/conversation/c1/complete")
    assert not routes_allow(["/api/v1/conversation/*/complete"], "/v1/conversation/c1/send")
    assert routes_allow(["/api/v1/**/fetch"], "/v1/conversation/c1/message/m1/fetch")
    assert routes_allow(["**"], "/v1/anything/at/all")


def test_negation_excludes_from_the_positive_patterns():
    routes = ["/api/v1/**", "!/api/v1/conversation/**"]
    assert routes_allow(routes, "/api/v1/bot/list")
    assert not routes_allow(routes, "/api/v1/conversation/list")
    assert not routes_allow(routes, "/api/v1/conversation/c1/complete")


def test_a_negation_cannot_be_sidestepped_by_switching_prefix():
    routes = ["**", "!/api/v1/conversation/**"]
    assert not routes_allow(routes, "/v1/conversation/list")


def test_the_manuals_example_allows_bots_only():
    routes = ["/api/v1/bot/**", "!/api/v1/conversation/**"]
    assert routes_allow(routes, "/api/v1/bot/list")
    assert not routes_allow(routes, "/api/v1/conversation/list")
    assert not routes_allow(routes, "/api/v1/usage/fetch")


def test_only_negations_allow_nothing_as_upstream():
    assert not routes_allow(["!/api/v1/conversation/**"], "/api/v1/bot/list")


def test_braces_offer_alternatives():
    routes = ["/v1/{bot,usage}/**"]
    assert routes_allow(routes, "/api/v1/usage/fetch")
    assert routes_allow(routes, "/v1/bot/list")
    assert not routes_allow(routes, "/v1/conversation/list")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/bot/../conversation/list",
        "/api/v1/bot/./list",
        "/api/v1/bot//list",
        "/v1/../admin/",
    ],
)
def test_paths_with_dot_or_empty_segments_are_never_allowed(path):
    assert not routes_allow(None, path)
    assert not routes_allow(["**"], path)


def test_route_validation_refuses_empty_and_unclosed_patterns():
    assert validate_routes([" /api/v1/bot/** "]) == ["/api/v1/bot/**"]
    bad_lists: list[list[Any]] = [[""], ["!"], ["/v1/{bot"], [42]]
    for bad in bad_lists:
        with pytest.raises(RouteError):
            validate_routes(bad)
