"""Console pages for group buying: activities with their figures (groups by outcome, success
rate, GMV), creating, editing and ending an activity, live groups and a group's members and
history. Every change goes through `services`, which authorises."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError

from . import queries, services
from .forms import ActivityForm
from .models import Activity, Group, GroupStatus, Member


def _viewer(request):
    actor = actor_from_request(request)
    authorize(actor, "groupbuy.view")
    return actor


def _apply_errors(form: ActivityForm, exc: DomainError) -> None:
    for field, message in exc.fields.items():
        name = field.split(".")[0]
        form.add_error(name if name in form.fields else None, ValidationError(str(message)))
    if not exc.fields:
        form.add_error(None, exc.message)


@login_required
def activities(request):
    actor = _viewer(request)
    items = list(Activity.objects.prefetch_related("items__sku__product")[:200])
    return render(
        request,
        "groupbuy/activities.html",
        {
            "title": _("Group buys"),
            "figures": queries.activity_figures(items),
            "can_manage": actor.can("groupbuy.manage"),
        },
    )


@login_required
def activity_form(request, activity_id: int | None = None):
    actor = _viewer(request)
    authorize(actor, "groupbuy.manage")
    activity = get_object_or_404(Activity, pk=activity_id) if activity_id else None
    if request.method == "POST":
        form = ActivityForm(request.POST)
        if form.is_valid():
            try:
                if activity is None:
                    activity = services.create_activity(form.to_input(), actor=actor)
                    messages.success(request, _("Group buy created."))
                else:
                    services.update_activity(activity.pk, form.to_input(), actor=actor)
                    messages.success(request, _("Group buy saved."))
            except DomainError as exc:
                _apply_errors(form, exc)
            else:
                return redirect("groupbuy:activities")
    else:
        form = ActivityForm.for_activity(activity) if activity else ActivityForm()
    return render(
        request,
        "groupbuy/activity_form.html",
        {
            "title": _("Edit group buy") if activity else _("New group buy"),
            "form": form,
            "activity": activity,
        },
    )


@login_required
@require_POST
def end(request, activity_id: int):
    actor = _viewer(request)
    try:
        services.end_activity(activity_id, actor=actor)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Group buy ended: no new groups open; open groups run out."))
    return redirect("groupbuy:activities")


@login_required
def groups(request):
    _viewer(request)
    status = request.GET.get("status", GroupStatus.OPEN)
    qs = Group.objects.select_related("activity", "initiator").order_by("expires_at", "-id")
    if status:
        qs = qs.filter(status=status)
    activity_id = request.GET.get("activity") or ""
    if activity_id.isdigit():
        qs = qs.filter(activity_id=int(activity_id))
    return render(
        request,
        "groupbuy/groups.html",
        {
            "title": _("Groups"),
            "groups": qs[:200],
            "status": status,
            "statuses": GroupStatus.choices,
            "activity_id": activity_id,
        },
    )


@login_required
def group(request, group_id: int):
    _viewer(request)
    found = get_object_or_404(Group.objects.select_related("activity", "initiator"), pk=group_id)
    return render(
        request,
        "groupbuy/group.html",
        {
            "title": _("Group %(code)s") % {"code": found.code},
            "group": found,
            "members": Member.objects.filter(group=found)
            .select_related("customer", "order", "sku__product")
            .prefetch_related("history"),
            "history": found.history.all(),
        },
    )
