"""Console pages for membership: live figures, tiers and member prices, card plans and the cards
sold, points (a customer's history, operator adjustments, product rules), referral rewards and the
programme's settings. Every change goes through `services`, which authorises."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError

from . import queries
from .forms import AdjustForm, CardPlanForm, MemberPriceForm, ProductRuleForm, ProgramForm, TierForm
from .models import (
    CardPlan,
    MemberCard,
    MemberPrice,
    PointsAccount,
    ProductPointsRule,
    Referral,
    ReferralReward,
    Tier,
)
from .services import benefits, coupons, points
from .services import cards as card_service
from .services import program as program_service
from .services import tiers as tier_service


def _viewer(request):
    actor = actor_from_request(request)
    authorize(actor, "membership.view")
    return actor


def _apply_errors(form, exc: DomainError) -> None:
    placed = False
    for field, message in exc.fields.items():
        if field in form.fields:
            form.add_error(field, message)
            placed = True
    if not placed or not exc.fields:
        form.add_error(None, exc.message)


@login_required
def overview(request):
    actor = _viewer(request)
    return render(
        request,
        "membership/overview.html",
        {
            "title": _("Membership"),
            "f": queries.figures(),
            "recent_rewards": ReferralReward.objects.select_related("referrer")[:10],
            "can_manage": actor.can("membership.manage"),
        },
    )


@login_required
def tiers(request):
    actor = _viewer(request)
    available = coupons.available()
    editing = Tier.objects.filter(pk=request.GET.get("edit") or 0).first()
    form = TierForm(instance=editing, coupons_available=available)
    price_form = MemberPriceForm()
    if request.method == "POST":
        authorize(actor, "membership.manage")
        if request.POST.get("form") == "member_price":
            price_form = MemberPriceForm(request.POST)
            if price_form.is_valid():
                try:
                    benefits.save_member_price(actor=actor, **price_form.cleaned_data)
                except DomainError as exc:
                    _apply_errors(price_form, exc)
                else:
                    messages.success(request, _("Member price saved."))
                    return redirect("membership:tiers")
        else:
            editing = Tier.objects.filter(pk=request.POST.get("tier_id") or 0).first()
            form = TierForm(request.POST, instance=editing, coupons_available=available)
            if form.is_valid():
                values = {k: form.cleaned_data[k] for k in form.fields}
                try:
                    tier_service.save_tier(
                        actor=actor, tier_id=editing.pk if editing else None, **values
                    )
                except DomainError as exc:
                    _apply_errors(form, exc)
                else:
                    messages.success(request, _("Tier saved."))
                    return redirect("membership:tiers")
    return render(
        request,
        "membership/tiers.html",
        {
            "title": _("Tiers"),
            "tiers": queries.figures()["tiers"],
            "form": form,
            "editing": editing,
            "price_form": price_form,
            "prices": MemberPrice.objects.select_related("sku__product").order_by("-updated_at")[
                :100
            ],
            "program": program_service.program(),
            "can_manage": actor.can("membership.manage"),
        },
    )


@login_required
def cards(request):
    actor = _viewer(request)
    available = coupons.available()
    editing = CardPlan.objects.filter(pk=request.GET.get("edit") or 0).first()
    form = CardPlanForm(instance=editing, coupons_available=available, editing=bool(editing))
    if request.method == "POST":
        authorize(actor, "membership.manage")
        editing = CardPlan.objects.filter(pk=request.POST.get("plan_id") or 0).first()
        form = CardPlanForm(
            request.POST, instance=editing, coupons_available=available, editing=bool(editing)
        )
        if form.is_valid():
            values = {k: form.cleaned_data[k] for k in form.fields if k != "sku_code"}
            try:
                card_service.save_plan(
                    actor=actor,
                    plan_id=editing.pk if editing else None,
                    sku_code=form.cleaned_data.get("sku_code", ""),
                    **values,
                )
            except DomainError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("Card plan saved."))
                return redirect("membership:cards")
    sold = list(MemberCard.objects.select_related("plan", "customer")[:50])
    for card in sold:
        card.refundable_fen = card_service.refund_amount(card)
    return render(
        request,
        "membership/cards.html",
        {
            "title": _("Member cards"),
            "plans": CardPlan.objects.select_related("sku__product").order_by("id"),
            "form": form,
            "editing": editing,
            "sold": sold,
            "can_manage": actor.can("membership.manage"),
        },
    )


@login_required
@require_POST
def refund_card(request, card_id: int):
    actor = _viewer(request)
    try:
        amount = card_service.refund_card(card_id, actor=actor, note=request.POST.get("note", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        from siyu.core.money import format_fen

        messages.success(
            request,
            _("Refund of %(amount)s approved; the card ends.") % {"amount": format_fen(amount)},
        )
    return redirect("membership:cards")


@login_required
def points_page(request):
    actor = _viewer(request)
    customer_id = request.GET.get("customer") or request.POST.get("customer_id")
    try:
        customer_id = int(customer_id) if customer_id else None
    except ValueError:
        customer_id = None
    adjust_form = AdjustForm(initial={"customer_id": customer_id, "key": uuid.uuid4().hex})
    rule_form = ProductRuleForm()
    if request.method == "POST":
        if request.POST.get("form") == "product_rule":
            authorize(actor, "membership.manage")
            rule_form = ProductRuleForm(request.POST)
            if rule_form.is_valid():
                try:
                    points.save_product_rule(actor=actor, **rule_form.cleaned_data)
                except DomainError as exc:
                    _apply_errors(rule_form, exc)
                else:
                    messages.success(request, _("Points rule saved."))
                    return redirect("membership:points")
        else:
            authorize(actor, "membership.adjust_points")
            adjust_form = AdjustForm(request.POST)
            if adjust_form.is_valid():
                data = adjust_form.cleaned_data
                try:
                    points.adjust(
                        data["customer_id"],
                        data["points"],
                        actor=actor,
                        reason=data["reason"],
                        key=data["key"],
                    )
                except DomainError as exc:
                    _apply_errors(adjust_form, exc)
                else:
                    messages.success(request, _("Points adjusted."))
                    return redirect(f"{request.path}?customer={data['customer_id']}")
    account = PointsAccount.objects.filter(customer_id=customer_id).first() if customer_id else None
    return render(
        request,
        "membership/points.html",
        {
            "title": _("Points"),
            "customer_id": customer_id,
            "account": account,
            "entries": points.history(customer_id, actor=actor, size=100) if customer_id else [],
            "adjust_form": adjust_form,
            "rule_form": rule_form,
            "rules": ProductPointsRule.objects.select_related("product").order_by("-updated_at")[
                :100
            ],
            "can_adjust": actor.can("membership.adjust_points"),
            "can_manage": actor.can("membership.manage"),
        },
    )


@login_required
def referrals(request):
    _viewer(request)
    status = request.GET.get("status", "")
    qs = Referral.objects.select_related("referrer", "invitee")
    if status:
        qs = qs.filter(status=status)
    return render(
        request,
        "membership/referrals.html",
        {
            "title": _("Referrals"),
            "f": queries.figures(),
            "rewards": ReferralReward.objects.select_related("referrer")[:100],
            "referrals": qs[:100],
            "status": status,
            "statuses": Referral._meta.get_field("status").choices,
        },
    )


@login_required
def program_settings(request):
    actor = _viewer(request)
    row = program_service.program()
    available = coupons.available()
    form = ProgramForm(instance=row, coupons_available=available)
    if request.method == "POST":
        authorize(actor, "membership.manage")
        form = ProgramForm(
            request.POST, instance=program_service.program(), coupons_available=available
        )
        if form.is_valid():
            try:
                program_service.update_program(
                    actor=actor, **{k: form.cleaned_data[k] for k in form.fields}
                )
            except DomainError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("membership:settings")
    return render(
        request,
        "membership/settings.html",
        {
            "title": _("Programme settings"),
            "form": form,
            "program": row,
            "coupons_available": available,
            "can_manage": actor.can("membership.manage"),
        },
    )
