"""The member centre (会员中心) in the H5 mall: points and their history, tier progress, the member
card (buy or renew through the normal checkout), the invitation link and referral cashback.

A friend's invitation link (`/m/membership/i/<code>/`) records the referral for a logged-in
shopper and sends everyone on to the shop with `?inv=<code>`, which the mall keeps for checkout
(where a shopper who logged in later is recorded)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError
from siyu.core.money import BadAmount, yuan_to_fen
from siyu.mall.sessions import shopper_actor, shopper_required
from siyu.mall.views.common import render_page

from .models import CardReminder, Referral, ReferralStatus
from .services import benefits, cards, points, referrals, tiers
from .services.program import program


def invite_url(request, code: str) -> str:
    return request.build_absolute_uri(reverse("membership_h5:invite", args=[code]))


@shopper_required
def centre(request):
    actor = request.actor
    cid = actor.customer_id
    member = tiers.member_for(cid)
    my_cards = cards.cards_of(cid)
    plans = cards.plans_on_sale()
    made = Referral.objects.filter(referrer_id=cid)
    return render_page(
        request,
        "membership/h5/centre.html",
        {
            "title": _("Member centre"),
            "rules": program(),
            "balance": points.balance(cid),
            "account": points.account_for(cid),
            "expiring": points.expiring_soon(cid),
            "entries": points.history(cid, actor=actor, size=10),
            "progress": tiers.progress(cid),
            "benefits": benefits.for_customer(cid),
            "cards": my_cards,
            "plans": plans,
            "reminder": cards.open_reminder(cid),
            "invite_url": invite_url(request, member.code) if member.code else "",
            "member": member,
            "friends": made.count(),
            "friends_rewarded": made.filter(status=ReferralStatus.REWARDED).count(),
            "cashback": referrals.cashback_balances(cid),
            "now": timezone.now(),
        },
        tab="me",
    )


@shopper_required
def points_history(request):
    actor = request.actor
    try:
        before = int(request.GET.get("before") or 0) or None
    except ValueError:
        before = None
    entries = points.history(actor.customer_id, actor=actor, before_id=before, size=30)
    return render_page(
        request,
        "membership/h5/points.html",
        {
            "title": _("Points history"),
            "entries": entries,
            "balance": points.balance(actor.customer_id),
            "next_before": entries[-1].pk if len(entries) == 30 else None,
        },
        tab="me",
    )


@shopper_required
@require_POST
def withdraw(request):
    try:
        amount = yuan_to_fen(request.POST.get("amount", ""))
        referrals.request_withdrawal(request.actor.customer_id, amount, actor=request.actor)
    except BadAmount:
        messages.error(request, _("Enter an amount such as 10.00."))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Withdrawal requested; it is paid once approved."))
    return redirect("membership_h5:centre")


@shopper_required
@require_POST
def dismiss_reminder(request):
    CardReminder.objects.filter(
        customer_id=request.actor.customer_id, dismissed_at__isnull=True
    ).update(dismissed_at=timezone.now())
    return redirect("membership_h5:centre")


def invite(request, code: str):
    actor = shopper_actor(request)
    if actor.kind == "customer":
        _referral, outcome = referrals.record(actor.customer_id, code, via="invite")
        if outcome == "recorded":
            messages.success(request, _("Welcome! Your friend's invitation is noted."))
    return redirect(f"{reverse('mall:home')}?inv={code[:12]}")
