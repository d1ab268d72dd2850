"""Console pages for distribution: distributors, applications, commissions, levels and rates,
programme settings and invitations. Every change goes through `services`, which authorises."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.pagination import page_from_request
from siyu.ledger import accounts as LA
from siyu.ledger.models import Account, Clawback, JournalEntry, Withdrawal

from . import queries, rates, services
from .forms import (
    AddDistributorForm,
    ChangeLevelForm,
    InvitationForm,
    LevelForm,
    ProductRateForm,
    ProgramForm,
    ReasonForm,
)
from .models import (
    ApplicationStatus,
    Commission,
    CommissionStatus,
    Distributor,
    DistributorApplication,
    DistributorLevel,
    DistributorStatus,
    Invitation,
)


def _viewer(request):
    actor = actor_from_request(request)
    authorize(actor, "distribution.view")
    return actor


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


@login_required
def distributors(request):
    actor = _viewer(request)
    form = AddDistributorForm()
    if request.method == "POST":
        authorize(actor, "distribution.manage")
        form = AddDistributorForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            parent = None
            if data["parent_code"]:
                parent = Distributor.objects.filter(
                    code=data["parent_code"].strip().upper()
                ).first()
            try:
                if data["parent_code"] and parent is None:
                    raise DomainError(_("No distributor has that share code."))
                created = services.add_distributor(
                    data["customer_id"],
                    actor=actor,
                    display_name=data["display_name"],
                    parent_id=parent.pk if parent else None,
                    level_id=data["level"].pk if data["level"] else None,
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Distributor added."))
                return redirect("distribution:distributor", distributor_id=created.pk)
    qs = Distributor.objects.select_related("customer", "level", "parent")
    if status := request.GET.get("status"):
        qs = qs.filter(status=status)
    if level := request.GET.get("level"):
        qs = qs.filter(level_id=level) if level.isdigit() else qs.none()
    if q := request.GET.get("q", "").strip():
        qs = qs.filter(
            Q(code__iexact=q) | Q(display_name__icontains=q) | Q(customer__name__icontains=q)
        )
    page = page_from_request(request, qs)
    balances = queries.balances_for(d.pk for d in page.items)
    return render(
        request,
        "distribution/distributors.html",
        {
            "title": _("Distributors"),
            "page": page,
            "rows": [(d, balances[d.pk]) for d in page.items],
            "levels": DistributorLevel.objects.all(),
            "statuses": DistributorStatus.choices,
            "form": form,
            "can_manage": actor.can("distribution.manage"),
            "program": services.program(),
        },
    )


@login_required
def distributor(request, distributor_id: int):
    actor = _viewer(request)
    d = get_object_or_404(
        Distributor.objects.select_related("customer", "level", "parent", "invited_by"),
        pk=distributor_id,
    )
    accounts = {
        a.purpose: a for a in Account.objects.filter(owner_kind="distributor", owner_id=d.pk)
    }
    return render(
        request,
        "distribution/distributor.html",
        {
            "title": str(d),
            "d": d,
            "earnings": queries.earnings(d),
            "accounts": [(LA.LABELS[p], accounts.get(p)) for p in LA.OWNER_PURPOSES],
            "by_status": queries.sales_by_status(d),
            "recruits": d.recruits.select_related("customer").order_by("-joined_at")[:50],
            "bound": queries.bound_customers(d),
            "bound_count": queries.bound_count(d),
            "commissions": Commission.objects.filter(distributor=d)
            .select_related("order", "order_line")
            .order_by("-id")[:20],
            "withdrawals": Withdrawal.objects.filter(owner_kind="distributor", owner_id=d.pk)[:10],
            "clawbacks": Clawback.objects.filter(owner_kind="distributor", owner_id=d.pk)[:10],
            "level_form": ChangeLevelForm(initial={"level": d.level_id}),
            "can_manage": actor.can("distribution.manage"),
            "share_url": request.build_absolute_uri(f"/m/distribution/s/{d.code}/"),
        },
    )


@login_required
@require_POST
def change_level(request, distributor_id: int):
    actor = actor_from_request(request)
    form = ChangeLevelForm(request.POST)
    if form.is_valid():
        services.change_level(distributor_id, form.cleaned_data["level"].pk, actor=actor)
        messages.success(request, _("Level changed; it applies to orders paid from now on."))
    else:
        _form_errors(request, form)
    return redirect("distribution:distributor", distributor_id=distributor_id)


@login_required
@require_POST
def change_status(request, distributor_id: int):
    actor = actor_from_request(request)
    active = request.POST.get("active") == "1"
    services.set_status(
        distributor_id, actor=actor, active=active, reason=request.POST.get("reason", "")[:255]
    )
    messages.success(
        request, _("Distributor reactivated.") if active else _("Distributor suspended.")
    )
    return redirect("distribution:distributor", distributor_id=distributor_id)


@login_required
def applications(request):
    actor = _viewer(request)
    status = request.GET.get("status", ApplicationStatus.PENDING)
    qs = DistributorApplication.objects.select_related("customer", "invited_by")
    if status in ApplicationStatus.values:
        qs = qs.filter(status=status)
    page = page_from_request(request, qs)
    return render(
        request,
        "distribution/applications.html",
        {
            "title": _("Applications"),
            "page": page,
            "status": status,
            "statuses": ApplicationStatus.choices,
            "can_review": actor.can("distribution.review"),
            "program": services.program(),
        },
    )


@login_required
@require_POST
def approve(request, application_id: int):
    try:
        d = services.approve_application(application_id, actor=actor_from_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("%(name)s is now a distributor.") % {"name": d.display_name})
    return redirect("distribution:applications")


@login_required
@require_POST
def reject(request, application_id: int):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the applicant a reason."))
        return redirect("distribution:applications")
    try:
        services.reject_application(
            application_id, actor=actor_from_request(request), reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Application rejected."))
    return redirect("distribution:applications")


@login_required
def commissions(request):
    _viewer(request)
    status = request.GET.get("status", "")
    qs = Commission.objects.select_related("distributor", "order", "order_line")
    if status in CommissionStatus.values:
        qs = qs.filter(status=status)
    if code := request.GET.get("distributor", "").strip():
        qs = qs.filter(distributor__code__iexact=code)
    if level := request.GET.get("level"):
        qs = qs.filter(level=level) if level in ("1", "2") else qs.none()
    page = page_from_request(request, qs)
    counts = queries.commission_counts()
    return render(
        request,
        "distribution/commissions.html",
        {
            "title": _("Commissions"),
            "page": page,
            "status": status,
            "statuses": [(v, label, counts.get(v, 0)) for v, label in CommissionStatus.choices],
        },
    )


@login_required
def commission(request, commission_id: int):
    _viewer(request)
    c = get_object_or_404(
        Commission.objects.select_related("distributor", "order", "order_line", "buyer"),
        pk=commission_id,
    )
    return render(
        request,
        "distribution/commission.html",
        {
            "title": _("Commission %(key)s") % {"key": c.key},
            "c": c,
            "history": c.history.all(),
            "refunds": c.refunds.all(),
            "entries": JournalEntry.objects.filter(
                source_type="distribution.commission", source_id=c.pk
            ).order_by("id"),
        },
    )


@login_required
def levels(request):
    actor = _viewer(request)
    form = LevelForm()
    rate_form = ProductRateForm(prefix="rate")
    if request.method == "POST" and request.POST.get("form") == "product_rate":
        rate_form = ProductRateForm(request.POST, prefix="rate")
        if rate_form.is_valid():
            data = rate_form.cleaned_data
            try:
                rates.save_product_rate(
                    actor=actor,
                    product=data["product"],
                    mode=data["mode"],
                    level1_value=data["value1"],
                    level2_value=data["value2"],
                )
            except DomainError as exc:
                rate_form.add_error(None, exc.message)
            else:
                messages.success(request, _("Product rate saved."))
                return redirect("distribution:levels")
    elif request.method == "POST":
        form = LevelForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.save_level(
                    actor=actor,
                    level_id=data["level_id"],
                    name=data["name"],
                    rank=data["rank"],
                    rate1_bp=data["rate1"],
                    rate2_bp=data["rate2"],
                    is_default=data["is_default"],
                    description=data["description"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Level saved."))
                return redirect("distribution:levels")
    elif edit := request.GET.get("edit"):
        level = DistributorLevel.objects.filter(pk=edit).first() if edit.isdigit() else None
        if level is not None:
            form = LevelForm(
                initial={
                    "level_id": level.pk,
                    "name": level.name,
                    "rank": level.rank,
                    "rate1": f"{level.rate1_bp / 100:g}",
                    "rate2": f"{level.rate2_bp / 100:g}",
                    "is_default": level.is_default,
                    "description": level.description,
                }
            )
    services.default_level()
    return render(
        request,
        "distribution/levels.html",
        {
            "title": _("Levels and rates"),
            "levels": DistributorLevel.objects.all(),
            "form": form,
            "can_manage": actor.can("distribution.manage"),
            "program": services.program(),
            "product_rates": rates.rate_rows(),
            "rate_form": rate_form,
        },
    )


@login_required
@require_POST
def delete_rate(request, rate_id: int):
    rates.delete_product_rate(rate_id, actor=actor_from_request(request))
    messages.success(request, _("The product uses the level rates again."))
    return redirect("distribution:levels")


@login_required
def program_settings(request):
    actor = _viewer(request)
    current = services.program()
    form = ProgramForm(initial=ProgramForm.initial_from(current))
    if request.method == "POST":
        form = ProgramForm(request.POST)
        if form.is_valid():
            try:
                services.update_program(actor=actor, **form.changes())
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Distribution settings saved."))
                return redirect("distribution:settings")
    return render(
        request,
        "distribution/settings.html",
        {
            "title": _("Programme settings"),
            "form": form,
            "program": current,
            "can_manage": actor.can("distribution.manage"),
        },
    )


@login_required
def invitations(request):
    actor = _viewer(request)
    form = InvitationForm()
    if request.method == "POST":
        form = InvitationForm(request.POST)
        if form.is_valid():
            invitation = services.issue_invitation(
                actor=actor,
                max_uses=form.cleaned_data["max_uses"],
                days=form.cleaned_data["days"],
                note=form.cleaned_data["note"],
            )
            messages.success(request, _("Invitation %(code)s issued.") % {"code": invitation.code})
            return redirect("distribution:invitations")
    page = page_from_request(request, Invitation.objects.all())
    return render(
        request,
        "distribution/invitations.html",
        {
            "title": _("Invitations"),
            "page": page,
            "form": form,
            "can_review": actor.can("distribution.review"),
            "program": services.program(),
        },
    )
