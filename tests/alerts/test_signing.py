"""The signature header: what a receiver computes, and the replay window."""

from __future__ import annotations

import hashlib
import hmac

from tenants.alerts import signing

SECRET = "whsec_test-secret"
BODY = b'{"id":"evt_1","type":"webhook.test"}'


def test_the_header_is_an_hmac_over_timestamp_dot_body():
    header = signing.header_value(SECRET, BODY, timestamp=1_764_000_000)

    expected = hmac.new(SECRET.encode(), b"1764000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1764000000,v1={expected}"


def test_verify_accepts_a_fresh_signature_and_refuses_tampering():
    header = signing.header_value(SECRET, BODY, timestamp=1_000)

    assert signing.verify(SECRET, BODY, header, now=1_010)
    assert not signing.verify(SECRET, BODY + b" ", header, now=1_010)
    assert not signing.verify("whsec_other", BODY, header, now=1_010)
    assert not signing.verify(SECRET, BODY, header.replace("t=1000", "t=1001"), now=1_010)
    assert not signing.verify(SECRET, BODY, "v1=abc", now=1_010)
    assert not signing.verify(SECRET, BODY, "", now=1_010)


def test_the_replay_window_is_five_minutes_either_way():
    assert signing.within_window(1_000, now=1_300)
    assert signing.within_window(1_300, now=1_000)
    assert not signing.within_window(1_000, now=1_301)
    assert not signing.within_window(1_302, now=1_001)
    assert signing.within_window(1_000, now=1_060, tolerance=60)
    assert not signing.within_window(1_000, now=1_061, tolerance=60)

    old = signing.header_value(SECRET, BODY, timestamp=1_000)
    assert not signing.verify(SECRET, BODY, old, now=1_000 + 301)
