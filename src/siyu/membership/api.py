"""Membership API (/api/v1/membership/): the shopper's own member centre (`/me...`, shopper
session) and staff endpoints (figures, a customer's points, operator adjustments, rewards)."""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema

from siyu.core.access import authorize
from siyu.core.api import ErrorBody, actor
from siyu.mall.sessions import ShopperAuth

from . import queries
from .services import benefits, cards, points, referrals, tiers

router = Router(tags=["membership"])


class PointsEntryOut(Schema):
    id: int
    reason: str
    delta: int
    debt_delta: int
    balance_after: int
    order_id: int | None
    note: str
    created_at: datetime


class CardOut(Schema):
    id: int
    plan: str
    starts_at: datetime
    ends_at: datetime
    status: str

    @staticmethod
    def resolve_plan(obj):
        return obj.plan.name


class TierProgressOut(Schema):
    tier: str | None
    spend_fen: int
    next_tier: str | None
    missing_fen: int
    percent: int


class MeOut(Schema):
    points: int
    points_debt: int
    expiring_points: int
    tier: TierProgressOut
    discount_percent: int
    member_price: bool
    free_shipping: bool
    cards: list[CardOut]
    invite_code: str | None
    cashback_available_fen: int


class WithdrawIn(Schema):
    amount_fen: int


class WithdrawalOut(Schema):
    id: int
    amount_fen: int
    status: str
    out_bill_no: str


class AdjustIn(Schema):
    customer_id: int
    points: int
    reason: str
    key: str


class FiguresOut(Schema):
    members: int
    points_issued: int
    points_used: int
    points_expired: int
    points_outstanding: int
    points_debt: int
    cards_sold: int
    cards_valid: int
    cards_refunded: int
    cards_revenue_fen: int
    referrals: int
    rewards: int
    rewards_cashback_fen: int
    rewards_points: int
    rewards_cost_fen: int


class RewardOut(Schema):
    id: int
    key: str
    referrer_id: int
    order_id: int
    kind: str
    points: int
    cashback_fen: int
    order_paid_fen: int
    created_at: datetime


def _progress(customer_id: int) -> dict:
    p = tiers.progress(customer_id)
    return {
        "tier": p["tier"].name if p["tier"] else None,
        "spend_fen": p["spend_fen"],
        "next_tier": p["next"].name if p["next"] else None,
        "missing_fen": p["missing_fen"],
        "percent": p["percent"],
    }


@router.get("/me", auth=ShopperAuth(), response={200: MeOut, 401: ErrorBody})
def me(request):
    """The shopper's membership: points, tier progress, benefits, cards, invitation code."""
    cid = actor(request).customer_id
    found = benefits.for_customer(cid)
    account = points.account_for(cid)
    return {
        "points": account.balance,
        "points_debt": account.debt,
        "expiring_points": points.expiring_soon(cid)["points"],
        "tier": _progress(cid),
        "discount_percent": found.discount_percent,
        "member_price": found.member_price,
        "free_shipping": found.free_shipping,
        "cards": cards.cards_of(cid),
        "invite_code": tiers.member_for(cid).code,
        "cashback_available_fen": referrals.cashback_balances(cid)["available"],
    }


@router.get("/me/points", auth=ShopperAuth(), response={200: list[PointsEntryOut], 401: ErrorBody})
def my_points(request, before: int | None = None, size: int = 30):
    me_ = actor(request)
    return points.history(me_.customer_id, actor=me_, before_id=before, size=min(max(size, 1), 100))


@router.post(
    "/me/withdrawals",
    auth=ShopperAuth(),
    response={200: WithdrawalOut, 401: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
def withdraw(request, payload: WithdrawIn):
    """Ask to be paid `amount_fen` of referral cashback (reviewed like commission withdrawals)."""
    me_ = actor(request)
    return referrals.request_withdrawal(me_.customer_id, payload.amount_fen, actor=me_)


@router.get("/figures", response={200: FiguresOut, 403: ErrorBody})
def figures(request):
    authorize(actor(request), "membership.view")
    return queries.figures()


@router.get("/customers/{customer_id}/points", response={200: list[PointsEntryOut], 403: ErrorBody})
def customer_points(request, customer_id: int, before: int | None = None, size: int = 50):
    return points.history(
        customer_id, actor=actor(request), before_id=before, size=min(max(size, 1), 200)
    )


@router.post(
    "/points/adjustments",
    response={200: PointsEntryOut, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
def adjust_points(request, payload: AdjustIn):
    """Add or remove a customer's points with a reason (idempotent by `key`)."""
    return points.adjust(
        payload.customer_id,
        payload.points,
        actor=actor(request),
        reason=payload.reason,
        key=payload.key,
    )


@router.get("/rewards", response={200: list[RewardOut], 403: ErrorBody})
def rewards(request, size: int = 50):
    return list(referrals.visible_rewards(actor(request))[: min(max(size, 1), 200)])
