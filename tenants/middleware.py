"""Support impersonation on every request: whether this browser acts as a tenant, and as which.

``ImpersonationMiddleware`` (after authentication, messages and htmx) reads the support session
the browser started (``SESSION_KEY`` in its Django session) and asks
``tenants.services.impersonation.resume_impersonation`` whether it is still open; a session
whose time is up, or whose person lost the role that allowed it, ends there, and the person is
themselves again with a message saying why. For an open one it:

- sets ``request.impersonation`` (``None`` or an ``Impersonation``) for views and templates;
- binds it to ``request.user`` (``tenants.access.act_as``): every lookup is then the tenant's;
- refuses what would step outside the tenant while acting (the operator's admin, accepting an
  invitation as oneself);
- writes one audit event per page view (full pages and every form posted; htmx fragments of a
  page, such as a list refreshing itself, belong to the page they refresh).

Requests with an ``Authorization`` header are programs holding a portal token: a browser's
support session never applies to them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.utils.deprecation import MiddlewareMixin

from tenants import access
from tenants.audit import RequestContext
from tenants.models import SupportSession
from tenants.services.impersonation import (
    record_page_view,
    resume_impersonation,
    stop_impersonation,
)

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from tenants.models import Impersonation

# Where the browser keeps the id of the support session it acts under.
SESSION_KEY = "portal.support_session"
# Views that would let a person step outside the tenant they act as.
_OFF_LIMITS_NAMESPACES = frozenset({"admin"})
_OFF_LIMITS_VIEWS = frozenset({"tenants:invitation-accept"})
# URL parts that are credentials (an invitation link's token) never reach the audit log.
_SECRET_URL_PARTS = frozenset({"token"})
_PATH_LONGEST = 500

_ENDED_BECAUSE = {
    SupportSession.EndReason.EXPIRED: "its time was up",
    SupportSession.EndReason.ACCESS_LOST: "you no longer hold the role that allowed it",
    SupportSession.EndReason.REPLACED: "you started another one in another window",
}


def begin_in_browser(request: HttpRequest, session: SupportSession) -> None:
    """Make the browser of ``request`` act under ``session`` from its next request on.

    Under a new session key, as ``django.contrib.auth.login`` does on signing in: acting is a
    change of privilege, so a session id that leaked before (a shared screen, a log, a fixated
    cookie) does not act as the tenant.
    """
    request.session.cycle_key()
    request.session[SESSION_KEY] = session.pk


def leave_in_browser(request: HttpRequest) -> None:
    """The browser of ``request`` acts as nobody any more (this request included).

    Under a new session key again: the id the browser held while acting (seen by the tenant's
    pages, their scripts and logs) does not carry the person's own reach afterwards.
    """
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    access.stop_acting(request.user)
    request.impersonation = None  # type: ignore[attr-defined]


def end_support_session_on_logout(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    """``user_logged_out``: logging out ends the support session the browser acted under."""
    if request is None or user is None:
        return
    session_id = request.session.get(SESSION_KEY)
    if not isinstance(session_id, int):
        return
    session = SupportSession.objects.open().filter(pk=session_id, actor_id=user.pk).first()
    if session is not None:
        stop_impersonation(
            session,
            actor=user,
            reason=SupportSession.EndReason.LOGGED_OUT,
            context=RequestContext.from_request(request),
        )


def _is_page_view(request: HttpRequest) -> bool:
    if request.method not in ("GET", "HEAD"):
        return True  # every form posted, refused or not
    htmx: Any = getattr(request, "htmx", None)
    return not htmx or bool(htmx.boosted) or bool(htmx.history_restore_request)


def _logged_path(request: HttpRequest) -> str:
    path = request.get_full_path()
    match = request.resolver_match
    for name, value in match.kwargs.items() if match else ():
        if name in _SECRET_URL_PARTS and value:
            path = path.replace(str(value), "…")
    return path[:_PATH_LONGEST]


class ImpersonationMiddleware(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> None:
        request.impersonation = None  # type: ignore[attr-defined]
        if "Authorization" in request.headers or SESSION_KEY not in request.session:
            return
        resumed = resume_impersonation(request.session[SESSION_KEY], request.user)
        if resumed.impersonation is None:
            request.session.pop(SESSION_KEY, None)
            if resumed.ended is not None:
                self._say_ended(request, resumed.ended)
            return
        user = request.user
        access.act_as(user, resumed.impersonation)
        request.impersonation = resumed.impersonation  # type: ignore[attr-defined]

        # Async views ask ``request.auser()``, which would load a second, unbound user object.
        async def bound_user() -> Any:
            return user

        request.auser = bound_user

    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        acting: Impersonation | None = getattr(request, "impersonation", None)
        match = request.resolver_match
        if acting is None or match is None:
            return None
        if _OFF_LIMITS_NAMESPACES & set(match.namespaces) or match.view_name in _OFF_LIMITS_VIEWS:
            raise PermissionDenied(
                f"You act as {acting.account.name}: stop the support session to use this page."
            )
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        acting: Impersonation | None = getattr(request, "impersonation", None)
        if acting is not None and _is_page_view(request):
            record_page_view(
                acting,
                method=request.method or "",
                path=_logged_path(request),
                status=response.status_code,
                context=RequestContext.from_request(request),
            )
        if getattr(request, "_support_session_ended", False) and getattr(request, "htmx", None):
            # An htmx fragment cannot take the banner away: reload the whole page.
            response["HX-Refresh"] = "true"
        return response

    @staticmethod
    def _say_ended(request: HttpRequest, session: SupportSession) -> None:
        why = _ENDED_BECAUSE.get(SupportSession.EndReason(session.end_reason or "stopped"))
        text = f"Your support session as {session.account.name} has ended"
        messages.warning(request, f"{text}: {why}." if why else f"{text}.")
        request._support_session_ended = True  # type: ignore[attr-defined]
