from __future__ import annotations

from django.http import HttpResponse

from tenants.views.dashboard import dashboard
from tenants.views.http import HtmxHttpRequest


def home(request: HtmxHttpRequest) -> HttpResponse:
    """``/`` is the dashboard (it requires a login itself)."""
    return dashboard(request)
