"""Live figures for the console overview (a handful of aggregate queries, no per-row work)."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import (
    CardStatus,
    Member,
    MemberCard,
    PointsAccount,
    PointsEntry,
    PointsReason,
    Referral,
    ReferralReward,
    ReferralStatus,
    Tier,
)
from .services.program import program


def figures() -> dict:
    now = timezone.now()
    by_reason = dict(
        PointsEntry.objects.values_list("reason")
        .annotate(n=Sum("delta"))
        .values_list("reason", "n")
    )
    issued = sum(by_reason.get(r, 0) or 0 for r in (PointsReason.EARN, PointsReason.REFERRAL)) + (
        PointsEntry.objects.filter(reason=PointsReason.ADJUST, delta__gt=0).aggregate(
            n=Sum("delta")
        )["n"]
        or 0
    )
    used = -(by_reason.get(PointsReason.REDEEM, 0) or 0) - (
        by_reason.get(PointsReason.REDEEM_RETURN, 0) or 0
    )
    accounts = PointsAccount.objects.aggregate(balance=Sum("balance"), debt=Sum("debt"))
    cards = MemberCard.objects.aggregate(
        sold=Count("id"),
        revenue=Sum("price_fen", filter=Q(status=CardStatus.ACTIVE)),
        valid=Count("id", filter=Q(status=CardStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now)),
        refunded=Count("id", filter=Q(status=CardStatus.REFUNDED)),
    )
    rewards = ReferralReward.objects.aggregate(
        n=Count("id"), cashback=Sum("cashback_fen"), points=Sum("points")
    )
    fen_per_point = program().redeem_fen_per_point
    tiers = list(Tier.objects.annotate(members=Count("member")).order_by("rank"))
    return {
        "members": Member.objects.count(),
        "tiers": tiers,
        "points_issued": issued,
        "points_used": used,
        "points_expired": -(by_reason.get(PointsReason.EXPIRE, 0) or 0),
        "points_taken_back": -(by_reason.get(PointsReason.REFUND, 0) or 0),
        "points_outstanding": accounts["balance"] or 0,
        "points_debt": accounts["debt"] or 0,
        "points_liability_fen": (accounts["balance"] or 0) * fen_per_point,
        "cards_sold": cards["sold"] or 0,
        "cards_valid": cards["valid"] or 0,
        "cards_refunded": cards["refunded"] or 0,
        "cards_revenue_fen": cards["revenue"] or 0,
        "referrals": Referral.objects.count(),
        "referrals_rewarded": Referral.objects.filter(status=ReferralStatus.REWARDED).count(),
        "rewards": rewards["n"] or 0,
        "rewards_cashback_fen": rewards["cashback"] or 0,
        "rewards_points": rewards["points"] or 0,
        "rewards_cost_fen": (rewards["cashback"] or 0) + (rewards["points"] or 0) * fen_per_point,
    }
