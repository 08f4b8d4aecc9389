"""authenticate / authenticate_sync: every failure, expiry, rotation, the warm path, last use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.credentials import (
    CredentialError,
    authenticate,
    authenticate_sync,
    clear_local_cache,
    record_allows_bot,
    record_allows_route,
    record_allows_scope,
    record_covers_account,
    token_from_authorization,
)
from tenants.credentials import cache as record_cache
from tenants.credentials.format import WIDGET_PREFIX, compose, new_secret, parse
from tenants.credentials.store import shared_store
from tenants.models import Account, Token
from tenants.services import (
    IssuedToken,
    create_session_token,
    issue_token,
    revoke_token,
    rotate_token,
)
from tenants.tasks import flush_token_last_used
from tests.factories import make_tenant, make_user

pytestmark = pytest.mark.django_db

authenticate_async = async_to_sync(authenticate)
BOTH = pytest.mark.parametrize(
    "auth", [authenticate_sync, authenticate_async], ids=["sync", "async"]
)


def issue(account: Account, committed: Callable[..., Any], **kwargs: Any) -> IssuedToken:
    kwargs.setdefault("name", "Test")
    kwargs.setdefault("scopes", ["conversation:*"])
    issued: IssuedToken = committed(issue_token, account, actor=None, **kwargs)
    return issued


def reason_of(auth, raw: str) -> str:
    with pytest.raises(CredentialError) as error:
        auth(raw)
    assert (error.value.status, error.value.code) == (401, "NOT_AUTHENTICATED")
    return error.value.reason


@BOTH
def test_a_valid_token_gives_the_record_of_its_account(auth, tenant, committed):
    issued = issue(tenant, committed, scopes=["conversation:*", "bot:list"], bot_ids=["b1"])
    record = auth(issued.plaintext)
    assert record.token_id == issued.token.token_id
    assert (record.account_id, record.account_path) == (tenant.pk, tenant.path)
    assert record.account_public_id == tenant.public_id
    assert record.partner_id == tenant.partner_pk
    assert record.kind == "api"
    assert record.scopes == ("conversation:*", "bot:list")
    assert record_allows_scope(record, "conversation:complete")
    assert not record_allows_scope(record, "bot:delete")
    assert record_allows_bot(record, "b1")
    assert not record_allows_bot(record, "b2")
    assert record_allows_route(record, "/api/v1/conversation/list")


def test_the_secret_hash_never_shows_in_a_records_repr(tenant, committed):
    issued = issue(tenant, committed)
    record = authenticate_sync(issued.plaintext)
    assert record.secret_hash not in repr(record)


def test_a_token_acts_for_its_account_and_descendants_only(partner, tenant, committed):
    grandchild = make_tenant(tenant)
    sibling = make_tenant(partner)
    record = authenticate_sync(issue(tenant, committed).plaintext)
    assert record_covers_account(record, tenant.path)
    assert record_covers_account(record, grandchild.path)
    assert not record_covers_account(record, sibling.path)
    assert not record_covers_account(record, partner.path)


@BOTH
def test_missing_garbled_and_mistyped_tokens_are_refused_before_any_lookup(
    auth, tenant, committed, django_assert_num_queries
):
    raw = issue(tenant, committed).plaintext
    typo = raw[:10] + ("a" if raw[10] != "a" else "b") + raw[11:]
    with django_assert_num_queries(0):
        assert reason_of(auth, "") == "missing"
        assert reason_of(auth, "sk-" + "0" * 64) == "malformed"
        assert reason_of(auth, raw[:-3]) == "malformed"
        assert reason_of(auth, typo) == "checksum"


@BOTH
def test_an_unknown_token_is_refused(auth, db):
    raw = compose("ppk_", "0" * 16, new_secret())
    assert reason_of(auth, raw) == "unknown"


@BOTH
def test_a_wrong_secret_for_a_real_token_id_is_refused(auth, tenant, committed):
    token_id = parse(issue(tenant, committed).plaintext).token_id
    forged = compose("ppk_", token_id, new_secret())
    assert reason_of(auth, forged) == "wrong_secret"


def test_a_widget_prefix_on_an_api_token_is_refused(tenant, committed):
    parsed = parse(issue(tenant, committed).plaintext)
    swapped = compose(WIDGET_PREFIX, parsed.token_id, parsed.secret)
    assert reason_of(authenticate_sync, swapped) == "unknown"


@BOTH
def test_an_expired_token_is_refused(auth, tenant, committed, clock):
    raw = issue(tenant, committed, expires_in=60).plaintext
    assert auth(raw)
    clock(61)
    assert reason_of(auth, raw) == "expired"


@BOTH
def test_a_revoked_token_is_refused_at_once_in_this_process(auth, tenant, committed):
    issued = issue(tenant, committed)
    assert auth(issued.plaintext)
    committed(revoke_token, issued.token, actor=None)
    assert reason_of(auth, issued.plaintext) == "revoked"


@BOTH
def test_after_rotation_both_values_work_during_the_grace_and_only_the_new_one_after(
    auth, tenant, committed, clock
):
    issued = issue(tenant, committed)
    assert auth(issued.plaintext)
    rotated = committed(rotate_token, issued.token, grace_seconds=600, actor=None)
    assert rotated.token.token_id == issued.token.token_id
    assert rotated.plaintext != issued.plaintext
    assert auth(rotated.plaintext)
    assert auth(issued.plaintext)
    clock(601)
    assert auth(rotated.plaintext)
    assert reason_of(auth, issued.plaintext) == "wrong_secret"


def test_a_rotation_without_grace_stops_the_old_value_at_once(tenant, committed):
    issued = issue(tenant, committed)
    rotated = committed(rotate_token, issued.token, grace_seconds=0, actor=None)
    assert authenticate_sync(rotated.plaintext)
    assert reason_of(authenticate_sync, issued.plaintext) == "wrong_secret"


@BOTH
def test_a_session_token_expires_after_its_duration_and_keeps_its_routes(
    auth, tenant, committed, clock
):
    issued = committed(
        create_session_token,
        tenant,
        duration_seconds=900,
        allowed_routes=["/api/v1/bot/**"],
        actor=None,
    )
    record = auth(issued.plaintext)
    assert record.kind == "session"
    assert record_allows_route(record, "/v1/bot/list")
    assert not record_allows_route(record, "/v1/conversation/list")
    clock(899)
    assert auth(issued.plaintext)
    clock(2)
    assert reason_of(auth, issued.plaintext) == "expired"


@BOTH
def test_the_warm_path_makes_no_database_query(
    auth, tenant, committed, settings, django_assert_num_queries
):
    settings.PORTAL_TOKEN_REVOCATION_CHECK_MS = 1000
    raw = issue(tenant, committed).plaintext
    auth(raw)  # cold: fills this process's memory
    with django_assert_num_queries(0):
        for _ in range(20):
            auth(raw)


def test_a_cold_process_reads_the_shared_store_not_the_token_table(tenant, committed):
    raw = issue(tenant, committed).plaintext  # published to the shared store on commit
    clear_local_cache()  # a freshly started worker
    with CaptureQueriesContext(connection) as queries:
        authenticate_sync(raw)
    assert not [q for q in queries.captured_queries if "tenants_token" in q["sql"]]


def test_a_token_row_is_read_once_then_served_from_the_shared_store(tenant, db):
    # Issued inside the test's transaction: nothing published, the first lookup fills the store.
    raw = issue_token(tenant, name="x", scopes=["*"], actor=None).plaintext
    with CaptureQueriesContext(connection) as first:
        authenticate_sync(raw)
    assert [q for q in first.captured_queries if "tenants_token" in q["sql"]]
    clear_local_cache()
    with CaptureQueriesContext(connection) as second:
        authenticate_sync(raw)
    assert not [q for q in second.captured_queries if "tenants_token" in q["sql"]]


def test_when_the_shared_store_fails_tokens_are_read_from_the_database(
    tenant, committed, monkeypatch
):
    issued = issue(tenant, committed)

    class BrokenStore:
        def __getattr__(self, name):
            raise ConnectionError("store down")

    monkeypatch.setattr(record_cache, "shared_store", lambda: BrokenStore())
    assert authenticate_sync(issued.plaintext).token_id == issued.token.token_id
    Token.objects.filter(pk=issued.token.pk).update(revoked_at=issued.token.created_at)
    assert reason_of(authenticate_sync, issued.plaintext) == "revoked"


def test_last_use_is_noted_without_a_database_write_and_flushed_by_the_task(tenant, committed):
    issued = issue(tenant, committed)
    with CaptureQueriesContext(connection) as queries:
        authenticate_sync(issued.plaintext)
        authenticate_async(issued.plaintext)
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [sql for sql in writes if "tenants_token" in sql]
    assert Token.objects.get(pk=issued.token.pk).last_used_at is None

    assert flush_token_last_used() == 1
    assert Token.objects.get(pk=issued.token.pk).last_used_at is not None
    assert flush_token_last_used() == 0  # idempotent: nothing newer to write


def test_the_authorization_header_takes_bearer_or_token():
    assert token_from_authorization("Bearer ppk_abc") == "ppk_abc"
    assert token_from_authorization("Token ppk_abc") == "ppk_abc"
    assert token_from_authorization("bearer  ppk_abc ") == "ppk_abc"
    for bad in (None, "", "Basic dXNlcg==", "Bearer", "ppk_abc"):
        with pytest.raises(CredentialError):
            token_from_authorization(bad)


def test_a_suspended_accounts_token_still_authenticates_and_the_proxy_refuses_the_account(
    tenant, committed
):
    # Authentication answers "who is calling"; refusing a suspended account is the proxy's job
    # (it reads the account's status from its account cache), with a clearer message.
    raw = issue(tenant, committed).plaintext
    Account.objects.filter(pk=tenant.pk).update(status=Account.Status.SUSPENDED)
    assert authenticate_sync(raw).account_id == tenant.pk


def test_the_token_shows_as_its_prefix_and_last_four(tenant, committed):
    issued = issue(tenant, committed, name="Shown")
    assert issued.token.display == f"ppk_…{issued.plaintext[-4:]}"
    assert issued.token.created_by_id is None
    user = make_user()
    other = committed(issue_token, tenant, name="x", scopes=["*"], actor=user)
    assert other.token.created_by_id == user.pk


def test_calls_that_arrive_while_the_epoch_is_read_do_not_read_it_too(
    tenant, committed, monkeypatch
):
    raw = issue(tenant, committed).plaintext
    authenticate_sync(raw)  # warm: the record is in this process's memory
    store = shared_store()
    epoch_reads = 0

    class SlowStore:
        """The shared store, with an epoch read that takes a while (a busy Redis)."""

        async def aget(self, key: str) -> Any:
            nonlocal epoch_reads
            if key == record_cache.EPOCH_KEY:
                epoch_reads += 1
                await asyncio.sleep(0.02)
            return await store.aget(key)

    monkeypatch.setattr(record_cache, "shared_store", SlowStore)
    record_cache._local.epoch_checked_at = float("-inf")  # a check is due

    async def burst() -> list[Any]:
        return await asyncio.gather(*(authenticate(raw) for _ in range(20)))

    records = async_to_sync(burst)()

    assert epoch_reads == 1
    assert {record.token_id for record in records} == {parse(raw).token_id}
