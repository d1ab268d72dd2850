"""Referral rewards (老带新) and share cashback (分享返现).

A member shares their invitation link, or a product with their code (`?inv=CODE`). A customer who
arrives through it and has never paid an order is recorded as their friend (`Referral`, one per
invitee). The friend's first paid order is the one that counts; when its after-sales window closes
(`OrderClosed`), the referrer gets the programme's reward — points, cashback into their ledger
balance (withdrawable like commissions), or a coupon from marketing — once, under the key
`referral:{order_id}`, within the monthly caps.

Nothing is given for: a referral of oneself, a circular one (the friend had referred the
referrer), an order refunded in full, an order under the minimum, or a month whose cap is reached.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.access import Actor, authorize
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers.models import Customer
from siyu.ledger import accounts as LA
from siyu.ledger import services as ledger
from siyu.ledger.accounts import Owner

from .. import rules
from ..models import Member, Referral, ReferralReward, ReferralStatus, RewardKind
from . import coupons
from . import points as points_service
from .program import program

OWNER_KIND = "member"
SYSTEM = Actor.system("membership-referral")


def owner_of(customer_id: int) -> Owner:
    return Owner(OWNER_KIND, customer_id)


def _has_paid_order(customer_id: int) -> bool:
    from siyu.orders.models import Order

    return Order.objects.filter(customer_id=customer_id, paid_at__isnull=False).exists()


def record(
    invitee_id: int, code: str, *, via: str = "invite", now: datetime | None = None
) -> tuple[Referral | None, str]:
    """A customer arrived through a member's code. Returns (referral, outcome): "recorded",
    "unknown_code", "self", "circular", "already_referred" or "not_new"."""
    now = now or timezone.now()
    code = (code or "").strip().upper()
    referrer = Member.objects.filter(code=code).values_list("customer_id", flat=True).first()
    if not code or referrer is None:
        return None, "unknown_code"
    if referrer == invitee_id:
        return None, "self"
    existing = Referral.objects.filter(invitee_id=invitee_id).first()
    if existing is not None:
        return existing, "already_referred"
    if Referral.objects.filter(referrer_id=invitee_id, invitee_id=referrer).exists():
        return None, "circular"
    if not Customer.objects.filter(pk=referrer, merged_into__isnull=True).exists():
        return None, "unknown_code"
    if _has_paid_order(invitee_id):
        return None, "not_new"
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                referrer_id=referrer, invitee_id=invitee_id, via=via[:20], created_at=now
            )
    except IntegrityError:  # the same friend arrived twice at once
        return Referral.objects.filter(invitee_id=invitee_id).first(), "already_referred"
    return referral, "recorded"


def note_paid_order(order_id: int, customer_id: int) -> None:
    """The friend's first paid order is the one the reward waits for."""
    from siyu.orders.models import Order

    referral = (
        Referral.objects.select_for_update()
        .filter(invitee_id=customer_id, status=ReferralStatus.WAITING)
        .first()
    )
    if referral is None:
        return
    earlier = (
        Order.objects.filter(customer_id=customer_id, paid_at__isnull=False)
        .exclude(pk=order_id)
        .exists()
    )
    if earlier:
        referral.status, referral.note = ReferralStatus.NO_REWARD, "not_first_order"
        referral.save(update_fields=["status", "note"])
        return
    referral.status, referral.first_order_id = ReferralStatus.ORDERED, order_id
    referral.save(update_fields=["status", "first_order_id"])


def note_refund(order_id: int) -> None:
    """A first order refunded in full earns nothing."""
    from siyu.orders.models import Order

    order = Order.objects.filter(pk=order_id).values("paid_fen", "refunded_fen").first()
    if order is None or order["refunded_fen"] < order["paid_fen"]:
        return
    Referral.objects.filter(first_order_id=order_id, status=ReferralStatus.ORDERED).update(
        status=ReferralStatus.NO_REWARD, note="refunded"
    )


def _give_up(referral: Referral, why: str) -> None:
    referral.status, referral.note = ReferralStatus.NO_REWARD, why
    referral.save(update_fields=["status", "note"])


def reward_for_order(order_id: int, *, now: datetime | None = None) -> ReferralReward | None:
    """The friend's first order closed (after-sales window over): reward the referrer, once."""
    from siyu.orders.models import Order, OrderStatus

    now = now or timezone.now()
    key = f"referral:{order_id}"
    referral = Referral.objects.filter(first_order_id=order_id).first()
    if referral is None:
        return None
    # The referrer's membership row serialises their rewards, so the monthly caps hold.
    Member.objects.select_for_update().filter(customer_id=referral.referrer_id).exists()
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    existing = ReferralReward.objects.filter(key=key).first()
    if existing is not None or referral.status != ReferralStatus.ORDERED:
        return existing
    settings_row = program()
    order = Order.objects.get(pk=order_id)
    net = order.paid_fen - order.refunded_fen
    if order.status not in (OrderStatus.CLOSED, OrderStatus.COMPLETED) or net <= 0:
        _give_up(referral, "refunded")
        return None
    if not settings_row.referral_enabled:
        _give_up(referral, "programme_off")
        return None
    if Referral.objects.filter(
        referrer_id=referral.invitee_id, invitee_id=referral.referrer_id
    ).exists():
        _give_up(referral, "circular")
        return None
    if net < settings_row.referral_min_order_fen:
        _give_up(referral, "below_minimum")
        return None
    period = rules.month_label(now)
    so_far = ReferralReward.objects.filter(
        referrer_id=referral.referrer_id, period=period
    ).aggregate(n=Count("id"), fen=Sum("cashback_fen"))
    kind = settings_row.referral_reward_kind
    if kind == RewardKind.COUPON and not (coupons.available() and settings_row.referral_coupon_id):
        _give_up(referral, "no_coupon")
        return None
    decided = rules.referral_reward(
        kind=kind,
        order_net_fen=net,
        points=settings_row.referral_points,
        fixed_fen=settings_row.referral_cashback_fen,
        percent_bp=settings_row.referral_cashback_bp,
        rewards_this_period=so_far["n"] or 0,
        cashback_this_period_fen=so_far["fen"] or 0,
        cap_count=settings_row.referral_cap_count,
        cap_fen=settings_row.referral_cap_fen,
    )
    if not (decided.points or decided.cashback_fen or decided.coupon):
        _give_up(referral, "cap_reached")
        return None
    if decided.coupon and (
        coupons.grant(
            referral.referrer_id,
            settings_row.referral_coupon_id,
            source="membership.referral",
            key=key,
            actor=SYSTEM,
        )
        is None
    ):
        _give_up(referral, "coupon_unavailable")
        return None
    reward = ReferralReward.objects.create(
        referral=referral,
        referrer_id=referral.referrer_id,
        key=key,
        order_id=order_id,
        kind=kind,
        points=decided.points,
        cashback_fen=decided.cashback_fen,
        coupon_id=settings_row.referral_coupon_id if decided.coupon else None,
        order_paid_fen=net,
        period=period,
        created_at=now,
    )
    if decided.points:
        points_service.reward(
            referral.referrer_id, decided.points, key=key, note=order.number, order_id=order_id
        )
    if decided.cashback_fen:
        ledger.post(
            key,
            [
                ledger.debit(LA.PLATFORM_OWNER, LA.REFERRAL_EXPENSE, decided.cashback_fen),
                ledger.credit(owner_of(referral.referrer_id), LA.AVAILABLE, decided.cashback_fen),
            ],
            kind="referral.cashback",
            actor=SYSTEM,
            memo=order.number,
            source=("membership.referralreward", reward.pk),
        )
    referral.status = ReferralStatus.REWARDED
    referral.note = "capped" if decided.capped else ""
    referral.save(update_fields=["status", "note"])
    return reward


def cashback_balances(customer_id: int) -> dict[str, int]:
    found = ledger.balances(owner_of(customer_id))
    return {
        "available": found.get(LA.AVAILABLE, 0),
        "in_transit": found.get(LA.IN_TRANSIT, 0),
        "owed": found.get(LA.RECEIVABLE, 0),
    }


def request_withdrawal(customer_id: int, amount_fen: int, *, actor: Actor):
    """A member asks for their referral cashback, through the same withdrawal review and payout
    adapters as distributors' commissions."""
    from siyu.customers.queries import wechat_openid
    from siyu.ledger import payouts

    if not (actor.is_system or (actor.kind == "customer" and actor.customer_id == customer_id)):
        raise PermissionDenied()
    adapter = payouts.get_adapter()
    openid = (wechat_openid(customer_id) or "") if adapter.needs_openid else ""
    if adapter.needs_openid and not openid:
        raise ValidationFailed(
            _("Open the shop in WeChat once so we can pay you to your WeChat balance."),
            fields={"amount_fen": _("No WeChat account linked.")},
        )
    return ledger.request_withdrawal(
        owner_of(customer_id),
        int(amount_fen),
        actor=actor,
        min_fen=program().min_withdrawal_fen,
        adapter=adapter.name,
        payee_openid=openid,
        owner_label=f"member:{customer_id}",
    )


def referrals_of(customer_id: int, *, actor: Actor) -> list[Referral]:
    if not (actor.kind == "customer" and actor.customer_id == customer_id):
        authorize(actor, "membership.view")
    return list(
        Referral.objects.filter(referrer_id=customer_id)
        .select_related("invitee")
        .prefetch_related("rewards")[:100]
    )


def visible_rewards(actor: Actor):
    authorize(actor, "membership.view")
    return ReferralReward.objects.select_related("referral", "referrer")


def move_customer(merged_id: int, survivor_id: int) -> None:
    """A merge: referrals follow the person; a referral between the two records is dropped (it
    would now be a self-referral), and the survivor keeps only one referral as invitee."""
    if not Referral.objects.filter(Q(referrer_id=merged_id) | Q(invitee_id=merged_id)).exists():
        return
    Referral.objects.filter(
        Q(referrer_id=merged_id, invitee_id=survivor_id)
        | Q(referrer_id=survivor_id, invitee_id=merged_id)
    ).exclude(rewards__isnull=False).delete()
    if Referral.objects.filter(invitee_id=survivor_id).exists():
        Referral.objects.filter(invitee_id=merged_id, rewards__isnull=True).delete()
    else:
        Referral.objects.filter(invitee_id=merged_id).update(invitee_id=survivor_id)
    Referral.objects.filter(referrer_id=merged_id).exclude(invitee_id=survivor_id).update(
        referrer_id=survivor_id
    )
    ReferralReward.objects.filter(referrer_id=merged_id).update(referrer_id=survivor_id)


def forget_customer(customer_id: int) -> None:
    """An erasure: open referrals of or by the person end without reward (amounts given stay for
    the books)."""
    Referral.objects.filter(
        Q(referrer_id=customer_id) | Q(invitee_id=customer_id),
        status__in=(ReferralStatus.WAITING, ReferralStatus.ORDERED),
    ).update(status=ReferralStatus.NO_REWARD, note="erased")


def customer_exists(customer_id: int) -> None:
    if not Customer.objects.filter(pk=customer_id).exists():
        raise NotFound()
