"""Who the console acts as: the one decision, for the pages, their streams and background jobs.

- ``console_account_choices(request)``: the accounts a person may pick in the console;
- ``resolve_console_account(request, public_id)``: the account a console request acts as, or
  ``Http404`` (out of reach) / ``PermissionDenied`` (in sight, but the role does not allow it);
- ``resolve_job_actor(job)``: the same decision again when a worker runs a background job, so a
  person who lost the role since queuing it does not act through it.

Who may use the console: owners, admins and support (``CONSOLE_ROLE``) of an account or of any
account above it; operator staff everywhere. Not viewers: a console turn spends the account's
quota (messages, tokens, conversations) and creates conversations in its upstream account, and
a viewer's role is to read. Support is in because running a test conversation as the tenant is
what support staff are for (ARCHITECTURE.md, "Who uses it").

Everything goes through ``tenants.access`` (the tenancy chokepoint); a tenant's people act
only within their own subtree because that is all ``access`` lets them reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
from django.db.models.functions import Length
from django.http import Http404

from tenants import access
from tenants.models import Account, Impersonation, Role
from tenants.proxy.internal import person_credential

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

    from tenants.console.models import ConversationJob
    from tenants.credentials import TokenRecord

CONSOLE_ROLE = Role.SUPPORT


@dataclass(frozen=True, slots=True)
class ConsoleActor:
    """A person acting as an account through the console: what each upstream call carries."""

    person_id: int
    person_label: str
    account_id: int
    account_public_id: str
    account_path: str
    partner_id: int
    account_name: str
    # The support session the person acts under (support impersonation), if any: the actor's
    # credential carries it, and each of its upstream calls is written to the session's audit
    # trail (``tenants.proxy.internal.open_call``).
    impersonation: Impersonation | None = None

    @classmethod
    def of(
        cls,
        person: AbstractBaseUser,
        account: Account,
        *,
        impersonation: Impersonation | None = None,
    ) -> ConsoleActor:
        return cls(
            person_id=int(person.pk),
            person_label=person.get_username(),
            account_id=account.pk,
            account_public_id=account.public_id,
            account_path=account.path,
            partner_id=account.partner_pk,
            account_name=account.name,
            impersonation=impersonation or access.acting_as(person),
        )

    @property
    def label(self) -> str:
        """How the calls are metered (``UsageEvent.token_id``): ``web:<person id>``."""
        return f"web:{self.person_id}"

    def credential(self) -> TokenRecord:
        return person_credential(
            account_id=self.account_id,
            account_public_id=self.account_public_id,
            account_path=self.account_path,
            partner_id=self.partner_id,
            label=self.label,
            impersonation=self.impersonation,
        )


def console_account_choices(request: HttpRequest, query: str = "") -> QuerySet[Account]:
    """The accounts the person may act as in the console, shallowest first, then by name."""
    accounts = access.accounts_for(request.user, min_role=CONSOLE_ROLE).exclude(
        status=Account.Status.CLOSED
    )
    query = query.strip()
    if query:
        accounts = accounts.filter(
            Q(name__icontains=query)
            | Q(email__icontains=query)
            | Q(public_id=query)
            | Q(slug=query)
        )
    return accounts.order_by(Length("path"), "name", "pk")


def resolve_console_account(request: HttpRequest, public_id: str) -> Account:
    """The account this console request acts as (see the module docstring for who may)."""
    account = access.get_account_for(request.user, public_id)
    access.require_role(request.user, account, CONSOLE_ROLE)
    if account.status == Account.Status.CLOSED:
        raise Http404("This account is closed")
    return account


def resolve_job_actor(job: ConversationJob) -> ConsoleActor:
    """The actor of a background job, checked again when a worker runs it.

    A job queued while acting as a tenant keeps its support session: its calls go to that
    session's trail (the person's own role, checked here, still decides whether it runs)."""
    from tenants.services.impersonation import impersonation_of

    person = job.person
    if person is None:
        raise Http404("The person who started this job is gone")
    account = access.get_account_by_pk_for(person, job.account_id)
    access.require_role(person, account, CONSOLE_ROLE)
    if account.status == Account.Status.CLOSED:
        raise Http404("This account is closed")
    session = job.support_session
    acting = impersonation_of(session, person) if session is not None else None
    return ConsoleActor.of(person, account, impersonation=acting)
