"""Every state change of accounts and people is a function here (pages, API and CLI alike).

Each is one transaction with one audit event (closing a subtree writes one per closed account),
and side effects (e-mail) run on commit. Calls to the upstream happen *before* the local write,
so that an upstream failure leaves nothing behind locally; they are idempotent, so a retry after
a local failure finds what the first attempt made upstream instead of making a second child.

Reaching an object is the caller's check (``tenants.access``, before calling). The rules every
entry point shares are checked here: who may grant which role, the typed confirmation of a
close, valid time zones, unique e-mails among siblings.

- ``accounts``: create_partner, onboard_tenant, update_account, suspend_account,
  reactivate_account, close_account, rotate_upstream_secret
- ``people``: invite_member, revoke_invitation, accept_invitation, change_role, remove_member
- ``tokens``: issue_token, create_session_token, update_token, rotate_token, revoke_token
- ``branding``: update_brand, reset_brand
- ``impersonation`` (imported from its module): start_impersonation, stop_impersonation, and the
  audit trail of a support session
"""

from __future__ import annotations

from tenants.audit import RequestContext
from tenants.services.accounts import (
    close_account,
    create_partner,
    onboard_tenant,
    reactivate_account,
    rotate_upstream_secret,
    suspend_account,
    update_account,
)
from tenants.services.branding import reset_brand, update_brand
from tenants.services.errors import AccountError
from tenants.services.people import (
    accept_invitation,
    change_role,
    invite_member,
    remove_member,
    revoke_invitation,
)
from tenants.services.tokens import (
    IssuedToken,
    create_session_token,
    issue_token,
    revoke_token,
    rotate_token,
    update_token,
)

__all__ = [
    "AccountError",
    "IssuedToken",
    "RequestContext",
    "accept_invitation",
    "change_role",
    "close_account",
    "create_partner",
    "create_session_token",
    "invite_member",
    "issue_token",
    "onboard_tenant",
    "reactivate_account",
    "remove_member",
    "reset_brand",
    "revoke_invitation",
    "revoke_token",
    "rotate_token",
    "rotate_upstream_secret",
    "suspend_account",
    "update_account",
    "update_brand",
    "update_token",
]
