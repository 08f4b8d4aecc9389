"""Token services: one transaction, one audit event, never the secret in the audit."""

from __future__ import annotations

import json

import pytest

from tenants.models import Account, AuditEvent, Token
from tenants.services import (
    AccountError,
    create_session_token,
    issue_token,
    revoke_token,
    rotate_token,
    update_token,
)
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def audit_text(account: Account) -> str:
    rows = AuditEvent.objects.filter(account=account).values("action", "target_id", "changes")
    return json.dumps(list(rows))


def test_issuing_stores_only_a_keyed_hash_and_audits_without_the_secret(tenant):
    owner = make_user()
    issued = issue_token(
        tenant,
        name="CI",
        scopes=["conversation:*", "*:list"],
        description="for the build",
        meta={"team": "ops"},
        bot_ids=["bot1", "bot1", "bot2"],
        expires_in=3600,
        actor=owner,
    )
    token = Token.objects.get(pk=issued.token.pk)
    secret_part = issued.plaintext[20:52]
    for field in (token.secret_hash, token.last4, token.token_id, json.dumps(token.meta)):
        assert secret_part not in field
    assert token.secret_hash != issued.plaintext
    assert token.bot_ids == ["bot1", "bot2"]
    assert token.expires_at is not None
    assert token.created_by == owner
    event = AuditEvent.objects.get(account=tenant, action="token.issued")
    assert event.target_type == "token"
    assert event.target_id == token.token_id
    assert event.changes["display"] == token.display
    assert event.changes["scopes"] == ["conversation:*", "*:list"]
    assert issued.plaintext not in audit_text(tenant)
    assert secret_part not in audit_text(tenant)


def test_rotation_and_revocation_audit_without_either_secret(tenant):
    issued = issue_token(tenant, name="x", scopes=["*"], actor=None)
    rotated = rotate_token(issued.token, grace_seconds=60, actor=None)
    revoke_token(rotated.token, actor=None, reason="leaked in a log")
    text = audit_text(tenant)
    for raw in (issued.plaintext, rotated.plaintext):
        assert raw not in text
        assert raw[20:52] not in text
    actions = list(
        AuditEvent.objects.filter(account=tenant).order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["token.issued", "token.rotated", "token.revoked"]
    revoked = AuditEvent.objects.get(account=tenant, action="token.revoked")
    assert revoked.changes["reason"] == "leaked in a log"


@pytest.mark.parametrize("status", [Account.Status.SUSPENDED, Account.Status.CLOSED])
def test_a_suspended_or_closed_account_gets_no_new_tokens(tenant, status):
    Account.objects.filter(pk=tenant.pk).update(status=status)
    with pytest.raises(AccountError) as error:
        issue_token(tenant, name="x", scopes=["*"], actor=None)
    assert error.value.code == "CONFLICT"
    with pytest.raises(AccountError):
        create_session_token(tenant, actor=None)
    assert not Token.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="token.").exists()


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"scopes": []}, "at least one scope"),
        ({"scopes": "conversation:*"}, "at least one scope"),
        ({"scopes": ["bots:list"]}, "no resource 'bots'"),
        ({"scopes": ["*"], "bot_ids": []}, "bot ids"),
        ({"scopes": ["*"], "expires_in": 0}, "expires_in"),
        ({"scopes": ["*"], "meta": ["x"]}, "meta must be an object"),
        ({"scopes": ["*"], "name": "n" * 201}, "at most 200"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(tenant, kwargs, says):
    kwargs.setdefault("name", "x")
    with pytest.raises(AccountError) as error:
        issue_token(tenant, actor=None, **kwargs)
    assert says in error.value.message
    assert not Token.objects.exists()


def test_a_session_token_defaults_to_fifteen_minutes_and_every_route(tenant):
    issued = create_session_token(tenant, actor=None)
    token = issued.token
    assert token.kind == Token.Kind.SESSION
    assert token.scopes == ["*"]
    assert token.allowed_routes is None
    assert token.expires_at is not None
    lifetime = (token.expires_at - token.created_at).total_seconds()
    assert 899 <= lifetime <= 901
    assert AuditEvent.objects.filter(action="token.session_created", target_id=token.token_id)


def test_session_routes_are_validated(tenant):
    with pytest.raises(AccountError):
        create_session_token(tenant, allowed_routes=["/v1/{bot"], actor=None)
    with pytest.raises(AccountError):
        create_session_token(tenant, duration_seconds=0, actor=None)
    issued = create_session_token(tenant, allowed_routes=[], actor=None)
    assert issued.token.allowed_routes == []


def test_updating_renames_describes_and_merges_meta_with_one_audit_event(tenant):
    token = issue_token(tenant, name="old", scopes=["*"], meta={"a": 1, "b": 2}, actor=None).token
    update_token(token, name="new", description="why", meta={"b": None, "c": 3}, actor=None)
    token.refresh_from_db()
    assert (token.name, token.description, token.meta) == ("new", "why", {"a": 1, "c": 3})
    event = AuditEvent.objects.get(action="token.updated")
    assert event.changes["name"] == {"before": "old", "after": "new"}
    update_token(token, name="new", actor=None)  # no change, no event
    assert AuditEvent.objects.filter(action="token.updated").count() == 1


def test_rotation_keeps_the_id_and_changes_the_display(tenant):
    issued = issue_token(tenant, name="x", scopes=["*"], actor=None)
    rotated = rotate_token(issued.token, grace_seconds=120, actor=None)
    token = Token.objects.get(pk=issued.token.pk)
    assert rotated.token.token_id == token.token_id
    assert token.last4 == rotated.plaintext[-4:]
    assert token.previous_secret_hash
    assert token.in_rotation_grace


def test_revoked_expired_and_session_tokens_are_not_rotated(tenant):
    revoked = issue_token(tenant, name="x", scopes=["*"], actor=None).token
    revoke_token(revoked, actor=None)
    session = create_session_token(tenant, actor=None).token
    for token in (revoked, session):
        with pytest.raises(AccountError):
            rotate_token(token, actor=None)


def test_revoking_twice_changes_nothing_the_second_time(tenant):
    token = issue_token(tenant, name="x", scopes=["*"], actor=None).token
    revoke_token(token, actor=None)
    first = Token.objects.get(pk=token.pk).revoked_at
    revoke_token(token, actor=None)
    assert Token.objects.get(pk=token.pk).revoked_at == first
    assert AuditEvent.objects.filter(action="token.revoked").count() == 1
    assert token.status == "revoked"
