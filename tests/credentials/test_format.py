"""The token format: round trip, checksum, garbage, and the keyed hash."""

from __future__ import annotations

import pytest

from portal.redaction import redact
from tenants.credentials import CredentialError, hash_secret, parse
from tenants.credentials.format import (
    API_PREFIX,
    BASE62,
    TOKEN_LENGTH,
    WIDGET_PREFIX,
    compose,
    new_secret,
    new_token_id,
)


def a_token(prefix: str = API_PREFIX) -> tuple[str, str, str]:
    token_id, secret = new_token_id(), new_secret()
    return compose(prefix, token_id, secret), token_id, secret


@pytest.mark.parametrize("prefix", [API_PREFIX, WIDGET_PREFIX])
def test_a_composed_token_parses_back_into_its_id_and_secret(prefix):
    raw, token_id, secret = a_token(prefix)
    parsed = parse(raw)
    assert (parsed.prefix, parsed.token_id, parsed.secret) == (prefix, token_id, secret)
    assert raw.startswith(prefix)
    assert len(raw) == TOKEN_LENGTH


def test_two_tokens_never_share_an_id_or_a_secret():
    tokens = [a_token() for _ in range(200)]
    assert len({token_id for _, token_id, _ in tokens}) == 200
    assert len({secret for _, _, secret in tokens}) == 200


def test_every_single_character_typo_is_caught_by_the_checksum_before_any_lookup():
    raw, _, _ = a_token()
    for position in range(len(API_PREFIX), len(raw)):
        for replacement in ("0", "z", "Q"):
            if raw[position] == replacement:
                continue
            typo = raw[:position] + replacement + raw[position + 1 :]
            with pytest.raises(CredentialError) as error:
                parse(typo)
            assert error.value.reason == "checksum"


def test_swapped_neighbours_are_caught_by_the_checksum():
    raw, _, _ = a_token()
    caught = 0
    for position in range(len(API_PREFIX), len(raw) - 1):
        if raw[position] == raw[position + 1]:
            continue
        swapped = raw[:position] + raw[position + 1] + raw[position] + raw[position + 2 :]
        with pytest.raises(CredentialError):
            parse(swapped)
        caught += 1
    assert caught > 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "missing"),
        ("sk-" + "ab" * 32, "malformed"),
        ("ppk_", "malformed"),
        ("ppk_short", "malformed"),
        ("eyJhbGciOi.eyJzdWIiOi.sig", "malformed"),
        ("PPK_" + "a" * (TOKEN_LENGTH - 4), "malformed"),
    ],
)
def test_garbled_tokens_are_refused_with_a_reason(raw, reason):
    with pytest.raises(CredentialError) as error:
        parse(raw)
    assert error.value.reason == reason
    assert error.value.status == 401
    assert error.value.code == "NOT_AUTHENTICATED"


def test_a_token_cut_short_or_with_extra_characters_is_malformed():
    raw, _, _ = a_token()
    for garbled in (raw[:-1], raw + "x", raw[:20] + "-" + raw[21:], " " + raw[1:]):
        with pytest.raises(CredentialError) as error:
            parse(garbled)
        assert error.value.reason in {"malformed", "checksum"}


def test_the_token_alphabet_is_base62():
    raw, _, _ = a_token()
    assert set(raw[len(API_PREFIX) :]) <= set(BASE62)


def test_tokens_are_recognised_and_masked_by_the_log_redaction():
    for prefix in (API_PREFIX, WIDGET_PREFIX):
        raw, _, _ = a_token(prefix)
        assert raw not in redact(f"called with {raw} today")


def test_the_stored_hash_is_not_the_token_nor_contains_the_secret():
    raw, token_id, secret = a_token()
    stored = hash_secret(token_id, secret)
    assert len(stored) == 64
    assert secret not in stored
    assert stored not in raw
    assert stored == hash_secret(token_id, secret)


def test_the_hash_depends_on_the_pepper(settings):
    _, token_id, secret = a_token()
    first = hash_secret(token_id, secret)
    settings.PORTAL_TOKEN_PEPPER = "another-pepper"
    assert hash_secret(token_id, secret) != first


def test_the_hash_binds_the_secret_to_its_token_id():
    _, token_id, secret = a_token()
    assert hash_secret(token_id, secret) != hash_secret(new_token_id(), secret)
