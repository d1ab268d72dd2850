"""Console home, audit trail and health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .access import actor_from_request, authorize
from .apps import siyu_configs
from .models import AuditEntry
from .pagination import page_from_request


@login_required
def home(request):
    actor = actor_from_request(request)
    authorize(actor, "console.view")
    cards = []
    for config in siyu_configs():
        cards.extend(config.home_cards(actor))
    return render(request, "console/home.html", {"title": _("Overview"), "cards": cards})


@login_required
def audit_log(request):
    actor = actor_from_request(request)
    authorize(actor, "audit.view")
    qs = AuditEntry.objects.all()
    if action := request.GET.get("action"):
        qs = qs.filter(action=action)
    if object_id := request.GET.get("object_id"):
        qs = qs.filter(object_id=object_id)
    page = page_from_request(request, qs)
    return render(request, "console/audit.html", {"title": _("Audit trail"), "page": page})


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
