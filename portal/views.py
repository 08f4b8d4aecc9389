from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.models import Account


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # Until memberships exist (accounts issue) only operator staff see partners here.
    partners = (
        Account.objects.partners().order_by("name")
        if request.user.is_staff
        else Account.objects.none()
    )
    return render(request, "portal/home.html", {"partners": partners})
