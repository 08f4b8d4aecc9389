"""The one base class of every management API viewset: it owns scoping and permissions.

A viewset declares *what* it serves and leaves *who may see it* to this class:

    class AccountViewSet(ScopedViewSet[Account]):
        model = Account
        access_scope = staticmethod(access.accounts_for)     # must be a tenants.access function
        rules = {"list": Rule(Role.VIEWER, "user:list"), "close": Rule(Role.OWNER, "user:delete")}
        account_field = None                                  # the object is the account

- **Scoping.** ``get_queryset`` is the subclass's ``narrow()`` (filters, joins) ANDed with the
  ``tenants.access`` scope of the caller, applied last, so nothing a subclass returns can widen
  it. Objects are found by ``lookup_condition()`` inside that queryset: a missing object and one
  outside the caller's subtree raise the same 404.
- **Permissions.** ``rules`` maps every action to the role it needs on the object's account
  (and the token scope, for token callers). Reading is scoped by the ``list`` rule's role;
  acting on a visible object without the role is 403. An action without a rule cannot exist:
  the class refuses to be defined.
- **Tokens.** A caller authenticated by a portal API token (``tenants.api.authentication``)
  reaches the token's account subtree (the token lookups of ``tenants.access``, paired with
  each person lookup in ``tenants.api.token_access``) and needs the rule's scope, not a role.
- **No accidental bypass.** Overriding the methods that do the above (``GUARDED``) raises
  ``TypeError`` at import, unless the subclass names them in ``dangerously_override``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, final

from django.db.models import Model, Q, QuerySet
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.viewsets import GenericViewSet

from tenants import access
from tenants.api.authentication import TokenCaller
from tenants.api.token_access import TOKEN_SCOPES
from tenants.audit import RequestContext
from tenants.credentials import record_allows_scope
from tenants.credentials.scopes import ANY
from tenants.models import Account, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from rest_framework.views import APIView


@dataclass(frozen=True, slots=True)
class Rule:
    """What an action needs: a person's role on the object's account, or a token's scope.

    Scopes come from the token catalogue (``tenants.credentials.scopes``). Where it names no
    resource for an endpoint (people, the audit log), the scope is ``*``: only a token that may
    do everything may use it.
    """

    role: Role
    scope: str = ANY


# The standard viewset methods: each one present on a viewset needs a rule.
_STANDARD_ACTIONS = ("list", "retrieve", "create", "update", "partial_update", "destroy")

# What only this class may define; a subclass that must is explicit about it.
GUARDED = frozenset(
    {
        "get_queryset",
        "get_object",
        "filter_queryset",
        "get_permissions",
        "check_permissions",
        "check_object_permissions",
        "permission_classes",
        "initial",
        "queryset",
    }
)


class RoleMapPermission(BasePermission):
    """Allows an action when the caller holds its rule's role on the object's account.

    A token caller needs the rule's scope instead; its reach (the token's subtree) is the
    queryset's business, so a token holding the scope may act on every object it can see.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not isinstance(view, ScopedViewSet):
            return False
        if isinstance(request.user, TokenCaller):
            rule = view.rule()
            if not record_allows_scope(request.user.record, rule.scope):
                needed = "the * scope" if rule.scope == ANY else f"the {rule.scope} scope"
                raise exceptions.PermissionDenied(f"This token lacks {needed}.")
            return True
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        view.rule()  # an action without a rule is refused
        return True

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if not isinstance(view, ScopedViewSet):
            return False
        if isinstance(request.user, TokenCaller):
            return True
        access.require_role(request.user, view.account_of(obj), view.rule().role)
        return True


class ScopedViewSet[M: Model](GenericViewSet[M]):
    model: ClassVar[type[Model]]
    access_scope: ClassVar[Callable[..., QuerySet[Any]]]
    rules: ClassVar[Mapping[str, Rule]]
    # The field of the object that holds its account; None when the object is the account.
    account_field: ClassVar[str | None] = "account"
    # Used in "No such <label>." for every 404, found or not, yours or not.
    object_label: ClassVar[str] = "object"
    # Actions that answer a page of ``get_queryset()``: ``filter_list`` applies to them.
    list_actions: ClassVar[tuple[str, ...]] = ("list",)
    dangerously_override: ClassVar[frozenset[str]] = frozenset()

    permission_classes = [RoleMapPermission]
    # No OPTIONS (the schema documents the API) and no PUT (updates are partial).
    http_method_names = ["get", "post", "patch", "delete", "head"]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = sorted((GUARDED - cls.dangerously_override) & set(vars(cls)))
        if overridden:
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(overridden)}, which ScopedViewSet owns "
                "(scoping and permissions). Narrow the queryset in narrow(); if a bypass is "
                "really meant, list the names in dangerously_override."
            )
        if "model" not in vars(cls):
            return  # an intermediate base class
        scope = vars(cls).get("access_scope")
        function = scope.__func__ if isinstance(scope, staticmethod) else None
        if function is None or function.__module__ != access.__name__:
            raise TypeError(
                f"{cls.__name__}.access_scope must be staticmethod(<a tenants.access function>)."
            )
        actions = [name for name in _STANDARD_ACTIONS if hasattr(cls, name)]
        actions += [extra.__name__ for extra in cls.get_extra_actions()]
        missing = sorted(set(actions) - set(cls.rules))
        if missing or "list" not in cls.rules:
            raise TypeError(f"{cls.__name__}.rules needs a rule for list and {missing}.")

    # -- what subclasses provide --------------------------------------------------------------

    def narrow(self, queryset: QuerySet[M]) -> QuerySet[M]:
        """Joins and filters for every use; the caller's scope is ANDed after, whatever it is."""
        return queryset

    def filter_list(self, queryset: QuerySet[M]) -> QuerySet[M]:
        """The list actions' filters (query parameters); scoped after, like ``narrow``."""
        return queryset

    def lookup_condition(self, value: str) -> Q | None:
        """How the URL's lookup value finds an object; None when it cannot name one."""
        if not value.isdigit() or len(value) > 18:
            return None
        return Q(pk=int(value))

    def lookup_order(self, value: str) -> tuple[Any, ...]:
        """Which of several matches wins (only accounts' slugs can match more than one)."""
        return ("pk",)

    # -- owned here ---------------------------------------------------------------------------

    @property
    def caller(self) -> AbstractBaseUser | AnonymousUser:
        return self.request.user

    @property
    def audit_context(self) -> RequestContext:
        return RequestContext.from_request(self.request._request)

    def rule(self) -> Rule:
        method = self.request.method or ""
        if self.action is None or method.lower() not in self.http_method_names:
            raise exceptions.MethodNotAllowed(method)  # no action is routed to PUT or OPTIONS
        rule = self.rules.get(self.action)
        if rule is None:
            raise exceptions.PermissionDenied("This action is not available.")
        return rule

    @property
    def visible_role(self) -> Role:
        """The role that makes an object visible at all (the ``list`` rule's)."""
        return self.rules["list"].role

    def account_of(self, obj: Any) -> Account:
        account = obj if self.account_field is None else getattr(obj, self.account_field)
        if not isinstance(account, Account):
            raise TypeError(f"{type(self).__name__}.account_field does not lead to an account")
        return account

    def _scope(self) -> QuerySet[Any]:
        function = type(self).access_scope
        if isinstance(self.caller, TokenCaller):
            for_token = TOKEN_SCOPES.get(function)
            if for_token is None:
                raise exceptions.PermissionDenied("Tokens cannot use this endpoint.")
            return for_token(self.caller.record)
        kwargs: dict[str, Any] = {}
        if "min_role" in inspect.signature(function).parameters:
            kwargs["min_role"] = self.visible_role
        return function(self.caller, **kwargs)

    def _scoped(self, *, listing: bool) -> QuerySet[M]:
        queryset: QuerySet[M] = self.narrow(self.model._default_manager.all())  # type: ignore[arg-type]
        if listing:
            queryset = self.filter_list(queryset)
        # Last, so that nothing a subclass returned can widen what the caller reaches.
        return queryset & self._scope()

    @final
    def get_queryset(self) -> QuerySet[M]:
        return self._scoped(listing=self.action in self.list_actions)

    @final
    def filter_queryset(self, queryset: QuerySet[M, Any]) -> QuerySet[M, Any]:
        return queryset

    @final
    def get_object(self) -> M:
        value = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        condition = self.lookup_condition(value)
        found = None
        if condition is not None:
            matches = self._scoped(listing=False).filter(condition)
            found = matches.order_by(*self.lookup_order(value)).first()
        if found is None:
            raise exceptions.NotFound(f"No such {self.object_label}.")
        self.check_object_permissions(self.request, found)
        return found

    def resolve_account(self, reference: str) -> Account:
        """An account the client named (a body field or filter), held to this action's rule.

        Outside the caller's reach it is 404, like any object; visible without the role, 403.
        """
        if isinstance(self.caller, TokenCaller):
            return access.get_account_in_token_reach(self.caller.record, reference)
        account = access.get_account_for(self.caller, reference, min_role=Role.VIEWER)
        access.require_role(self.caller, account, self.rule().role)
        return account
