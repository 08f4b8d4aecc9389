"""``allowedRoutes`` of session tokens: globs over the request path (``UPSTREAM.md`` §3.3).

The upstream's rules (``platform/lib/glob.ts`` and ``token.ts`` of the open-source server):
- ``*`` matches within one path segment, ``**`` (a whole segment) any number of segments,
  ``?`` one character, ``{a,b}`` either alternative;
- a pattern starting with ``!`` excludes: a path is allowed when it matches at least one
  positive pattern and no negative one, so a list of only negations allows nothing;
- an empty list blocks every route; no list (``None``) allows every ``/v1`` route;
- a pattern without the ``/api/v1/`` or ``/v1/`` prefix applies under both.

One deliberate difference: the upstream prefixes a pattern that already names one prefix with
the other as well (``/v1//api/v1/...``, which matches nothing), so ``!/api/v1/conversation/**``
does not exclude ``/v1/conversation/list`` there. Here both patterns and paths are reduced to
the part after the prefix first, so a pattern names the same routes under both prefixes and a
negation cannot be sidestepped by switching prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

API_PREFIXES = ("/api/v1/", "/v1/")
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 300


class RouteError(ValueError):
    """An ``allowedRoutes`` entry that is not a usable pattern."""


def _strip_prefix(pattern: str) -> str:
    pattern = pattern.lstrip("/")
    for prefix in ("api/v1/", "v1/"):
        if pattern.startswith(prefix):
            return pattern[len(prefix) :]
    return pattern


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        at_segment_start = i == 0 or pattern[i - 1] == "/"
        if (
            pattern.startswith("**", i)
            and at_segment_start
            and (i + 2 == n or pattern[i + 2] == "/")
        ):
            if i + 2 == n:  # trailing "/**": the segment itself or anything below it
                if out and out[-1] == "/":
                    out[-1] = "(?:/.*)?"
                else:
                    out.append(".*")
                i += 2
            else:  # "**/": zero or more whole segments
                out.append("(?:[^/]+/)*")
                i += 3
            continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "{":
            end = pattern.find("}", i)
            if end == -1:
                raise RouteError(f"{pattern!r} has an unclosed '{{'.")
            alternatives = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_translate(item) for item in alternatives) + ")")
            i = end + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def _compile(patterns: tuple[str, ...]) -> tuple[tuple[re.Pattern[str], ...], ...]:
    positive: list[re.Pattern[str]] = []
    negative: list[re.Pattern[str]] = []
    for raw in patterns:
        pattern = raw.strip()
        target = negative if pattern.startswith("!") else positive
        target.append(re.compile(_translate(_strip_prefix(pattern.removeprefix("!")))))
    return tuple(positive), tuple(negative)


def _route_of(path: str) -> str | None:
    """The path after its ``/api/v1/`` or ``/v1/`` prefix, or None for anything else.

    Dot segments and empty segments are refused rather than interpreted: the proxy normalises
    paths before it asks, so one here is a trick, not a route.
    """
    for prefix in API_PREFIXES:
        if path.startswith(prefix):
            route = path[len(prefix) :]
            segments = route.split("/")
            if not route or any(segment in ("", ".", "..") for segment in segments):
                return None
            return route
    return None


def routes_allow(allowed_routes: Sequence[str] | None, path: str) -> bool:
    """True if ``path`` (no query string) is allowed by ``allowed_routes``."""
    route = _route_of(path)
    if route is None:
        return False
    if allowed_routes is None:
        return True
    positive, negative = _compile(tuple(allowed_routes))
    return any(p.fullmatch(route) for p in positive) and not any(
        p.fullmatch(route) for p in negative
    )


def validate_routes(patterns: Iterable[str]) -> list[str]:
    """The patterns, stripped and checked, or ``RouteError`` naming the bad one."""
    cleaned: list[str] = []
    for raw in patterns:
        if not isinstance(raw, str):
            raise RouteError("Each allowed route must be a string.")
        pattern = raw.strip()
        if not pattern or pattern == "!" or len(pattern) > MAX_PATTERN_LENGTH:
            raise RouteError(
                f"{raw!r} is not a route pattern (1 to {MAX_PATTERN_LENGTH} characters, "
                "for example /api/v1/bot/** or !/api/v1/conversation/**)."
            )
        _compile((pattern,))
        cleaned.append(pattern)
    if len(cleaned) > MAX_PATTERNS:
        raise RouteError(f"At most {MAX_PATTERNS} allowed routes.")
    return cleaned
