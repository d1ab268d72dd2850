"""Console pages of the ledger: accounts and their statements, entries, the withdrawals queue,
clawbacks. Thin: every change goes through `services`, which authorises."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.pagination import page_from_request

from . import accounts as A
from . import services
from .forms import ReasonForm, RepaymentForm
from .models import Account, Clawback, JournalEntry, Withdrawal, WithdrawalStatus
from .queries import with_running_balance


def _viewer(request):
    actor = actor_from_request(request)
    authorize(actor, "ledger.view")
    return actor


@login_required
def accounts(request):
    _viewer(request)
    qs = Account.objects.all()
    if kind := request.GET.get("owner_kind"):
        qs = qs.filter(owner_kind=kind)
    if owner := request.GET.get("owner_id"):
        qs = qs.filter(owner_id=owner) if owner.isdigit() else qs.none()
    if purpose := request.GET.get("purpose"):
        qs = qs.filter(purpose=purpose)
    page = page_from_request(request, qs)
    rows = [(a, services.balance_of(a), A.LABELS.get(a.purpose, a.purpose)) for a in page.items]
    platform = [
        (a, services.balance_of(a), A.LABELS.get(a.purpose, a.purpose))
        for a in Account.objects.filter(owner_kind=A.PLATFORM)
    ]
    owner_totals = {
        row["purpose"]: row["total"]
        for row in Account.objects.exclude(owner_kind=A.PLATFORM)
        .values("purpose")
        .annotate(total=Sum("balance_fen"))
    }
    return render(
        request,
        "ledger/accounts.html",
        {
            "title": _("Ledger"),
            "page": page,
            "rows": rows,
            "platform": platform,
            "owner_totals": [(A.PURPOSES[p], owner_totals.get(p, 0)) for p in A.OWNER_PURPOSES],
            "purposes": A.PURPOSES.values(),
        },
    )


@login_required
def account(request, account_id: int):
    _viewer(request)
    acct = get_object_or_404(Account, pk=account_id)
    page = page_from_request(request, acct.lines.select_related("entry"))
    return render(
        request,
        "ledger/account.html",
        {
            "title": _("Account statement"),
            "account": acct,
            "purpose": A.PURPOSES.get(acct.purpose),
            "balance": services.balance_of(acct),
            "lines_sum": services.sum_of_lines(acct),
            "page": page,
            "rows": with_running_balance(acct, page),
        },
    )


@login_required
def entry(request, entry_id: int):
    _viewer(request)
    found = get_object_or_404(JournalEntry.objects.select_related("reverses"), pk=entry_id)
    lines = found.lines.select_related("account").order_by("id")
    return render(
        request,
        "ledger/entry.html",
        {
            "title": _("Journal entry"),
            "entry": found,
            "lines": lines,
            "reversed_by": JournalEntry.objects.filter(reverses=found).first(),
            "purposes": A.LABELS,
        },
    )


@login_required
def withdrawals(request):
    actor = _viewer(request)
    status = request.GET.get("status", "requested")
    qs = Withdrawal.objects.all()
    if status in WithdrawalStatus.values:
        qs = qs.filter(status=status)
    page = page_from_request(request, qs)
    owed = {
        (a.owner_kind, a.owner_id): a.balance_fen
        for a in Account.objects.filter(
            purpose=A.RECEIVABLE,
            balance_fen__gt=0,
            owner_id__in=[w.owner_id for w in page.items],
        )
    }
    counts = dict(
        Withdrawal.objects.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return render(
        request,
        "ledger/withdrawals.html",
        {
            "title": _("Withdrawals"),
            "page": page,
            "rows": [(w, owed.get((w.owner_kind, w.owner_id), 0)) for w in page.items],
            "status": status,
            "statuses": [
                (value, label, counts.get(value, 0)) for value, label in WithdrawalStatus.choices
            ],
            "can_approve": actor.can("ledger.approve_withdrawal"),
            "reject_form": ReasonForm(),
        },
    )


@login_required
def withdrawal(request, withdrawal_id: int):
    actor = _viewer(request)
    w = get_object_or_404(Withdrawal, pk=withdrawal_id)
    return render(
        request,
        "ledger/withdrawal.html",
        {
            "title": _("Withdrawal %(id)s") % {"id": w.pk},
            "w": w,
            "history": w.history.all(),
            "entries": JournalEntry.objects.filter(
                source_type="ledger.withdrawal", source_id=w.pk
            ).order_by("id"),
            "owed": services.outstanding_clawback(A.Owner(w.owner_kind, w.owner_id)),
            "balances": services.balances(A.Owner(w.owner_kind, w.owner_id)),
            "purposes": A.LABELS,
            "can_approve": actor.can("ledger.approve_withdrawal"),
            "reject_form": ReasonForm(),
        },
    )


def _back(request, fallback: str):
    target = request.POST.get("next") or ""
    return redirect(target if target.startswith("/console/") else fallback)


@login_required
@require_POST
def approve(request, withdrawal_id: int):
    try:
        services.approve_withdrawal(withdrawal_id, actor=actor_from_request(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Approved: the payout is on its way."))
    return _back(request, "ledger:withdrawals")


@login_required
@require_POST
def reject(request, withdrawal_id: int):
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tell the payee why the withdrawal is rejected."))
        return _back(request, "ledger:withdrawals")
    try:
        services.reject_withdrawal(
            withdrawal_id, actor=actor_from_request(request), reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Rejected: the money is back in the payee's balance."))
    return _back(request, "ledger:withdrawals")


@login_required
@require_POST
def refresh(request, withdrawal_id: int):
    actor = actor_from_request(request)
    authorize(actor, "ledger.approve_withdrawal")
    w = services.refresh_payout(withdrawal_id)
    messages.info(request, _("Payout status: %(status)s.") % {"status": w.get_status_display()})
    return redirect("ledger:withdrawal", withdrawal_id=withdrawal_id)


@login_required
def clawbacks(request):
    actor = _viewer(request)
    qs = Clawback.objects.all()
    if request.GET.get("state", "open") == "open":
        qs = qs.filter(closed_at__isnull=True)
    page = page_from_request(request, qs)
    return render(
        request,
        "ledger/clawbacks.html",
        {
            "title": _("Clawbacks"),
            "page": page,
            "can_manage": actor.can("ledger.manage_clawbacks"),
            "reason_form": ReasonForm(),
            "repay_form": RepaymentForm(),
        },
    )


@login_required
@require_POST
def waive(request, clawback_id: int):
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.waive_clawback(
                clawback_id, actor=actor_from_request(request), reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The rest of the clawback was written off."))
    else:
        messages.error(request, _("Give a reason."))
    return _back(request, "ledger:clawbacks")


@login_required
@require_POST
def repay(request, clawback_id: int):
    form = RepaymentForm(request.POST)
    if form.is_valid():
        try:
            services.record_clawback_repayment(
                clawback_id,
                form.cleaned_data["amount"],
                reference=form.cleaned_data["reference"],
                actor=actor_from_request(request),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Repayment recorded."))
    else:
        messages.error(request, "; ".join(e for errs in form.errors.values() for e in errs))
    return _back(request, "ledger:clawbacks")


def account_url(owner_kind: str, owner_id: int, purpose: str) -> str | None:
    """The console URL of an owner's account statement (for other apps' pages)."""
    from django.urls import reverse

    found = (
        Account.objects.filter(owner_kind=owner_kind, owner_id=owner_id, purpose=purpose)
        .values_list("pk", flat=True)
        .first()
    )
    return reverse("ledger:account", args=[found]) if found else None
