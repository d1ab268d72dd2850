"""Pure membership rules (no database): points per line, expiry dates, how many points an order
may use, proportional reversals, tiers by spend, card refunds and referral rewards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def points_for_line(
    net_paid_fen: int,
    quantity: int,
    *,
    per_yuan: int,
    multiplier_percent: int = 100,
    product_mode: str = "",
    product_value: int = 0,
) -> int:
    """Points one order line earns: `per_yuan` for every whole yuan paid, times the member's
    multiplier; a product rule replaces the base (a multiplier on it, fixed points per unit, or
    none). Never negative; fractions round down."""
    if net_paid_fen <= 0:
        return 0
    if product_mode == "none":
        return 0
    if product_mode == "fixed":
        base = product_value * quantity
    else:
        base = net_paid_fen * per_yuan // 100
        if product_mode == "multiplier":
            base = base * product_value // 100
    return max(0, base * multiplier_percent // 100)


def expiry_for(earned_at: datetime, months: int) -> datetime:
    """The instant points earned at `earned_at` expire: the end of the `months`-th calendar month
    after the month they were earned in (Asia/Shanghai), i.e. the first instant of the month after.
    Earned any day in March 2026 with 12 months: they expire when April 2027 begins."""
    local = earned_at.astimezone(SHANGHAI)
    index = local.year * 12 + (local.month - 1) + months + 1
    year, month = divmod(index, 12)
    return datetime(year, month + 1, 1, tzinfo=SHANGHAI)


def month_label(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y-%m")


def redeemable_points(
    *,
    balance: int,
    eligible_fen: int,
    fen_per_point: int,
    max_percent: int,
    max_points: int = 0,
    min_points: int = 0,
) -> int:
    """The most points an order may use: the balance, within `max_percent` of what the eligible
    goods cost and the per-order cap; 0 when that is below the minimum."""
    if balance <= 0 or eligible_fen <= 0 or fen_per_point <= 0:
        return 0
    by_amount = eligible_fen * max_percent // 100 // fen_per_point
    points = min(balance, by_amount)
    if max_points:
        points = min(points, max_points)
    return points if points >= max(min_points, 1) else 0


def proportional_due(*, total: int, done: int, amount_fen: int, net_before_fen: int, final: bool):
    """Of `total` points tied to a line (earned on it, or spent on it), what a refund of
    `amount_fen` moves now, given `done` already moved and `net_before_fen` still unrefunded before
    this refund. The last refund of a line moves all that is left, so rounding never strands
    points."""
    left = max(0, total - done)
    if final or net_before_fen <= 0:
        return left
    return min(left, total * amount_fen // net_before_fen if total else 0)


@dataclass(frozen=True)
class TierRule:
    id: int
    rank: int
    min_spend_fen: int


def tier_for_spend(spend_fen: int, tiers: list[TierRule]) -> TierRule | None:
    """The highest tier whose threshold the spend reaches."""
    best = None
    for tier in sorted(tiers, key=lambda t: t.rank):
        if spend_fen >= tier.min_spend_fen:
            best = tier
    return best


@dataclass(frozen=True)
class TierDecision:
    tier_id: int | None
    below_since: datetime | None
    change: str  # "", "upgrade", "downgrade", "grace", "restored"


def evaluate_tier(
    *,
    current: TierRule | None,
    qualified: TierRule | None,
    below_since: datetime | None,
    now: datetime,
    grace_days: int,
) -> TierDecision:
    """Upgrades happen at once; a member whose spend fell below their tier keeps it for the grace
    period (counted from the first evaluation that found them below), then drops to the tier their
    spend qualifies for."""
    current_rank = current.rank if current else -1
    qualified_rank = qualified.rank if qualified else -1
    qualified_id = qualified.id if qualified else None
    if qualified_rank > current_rank:
        return TierDecision(qualified_id, None, "upgrade")
    if qualified_rank == current_rank:
        return TierDecision(qualified_id, None, "restored" if below_since else "")
    current_id = current.id if current else None
    if below_since is None:
        return TierDecision(current_id, now, "grace")
    if now - below_since >= timedelta(days=grace_days):
        return TierDecision(qualified_id, None, "downgrade")
    return TierDecision(current_id, below_since, "")


def card_refund_fen(
    *,
    price_fen: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    benefits_fen: int,
    used: bool,
    full_refund_days: int,
) -> int:
    """What refunding a member card gives back (documented in docs/membership.md):

    * within `full_refund_days` of the start and no benefit used: the full price;
    * otherwise: the unused whole days' share of the price, minus the value of benefits already
      enjoyed, never below zero. A card not started yet (a renewal) counts as unused days only.
    """
    if price_fen <= 0:
        return 0
    if not used and now < starts_at + timedelta(days=full_refund_days):
        return price_fen
    total_days = max(1, (ends_at - starts_at).days)
    unused_days = total_days if now <= starts_at else max(0, (ends_at - now).days)
    pro_rata = price_fen * unused_days // total_days
    return max(0, pro_rata - benefits_fen)


@dataclass(frozen=True)
class ReferralReward:
    points: int = 0
    cashback_fen: int = 0
    coupon: bool = False
    capped: bool = False


def referral_reward(
    *,
    kind: str,
    order_net_fen: int,
    points: int,
    fixed_fen: int,
    percent_bp: int,
    rewards_this_period: int,
    cashback_this_period_fen: int,
    cap_count: int,
    cap_fen: int,
) -> ReferralReward:
    """What a referrer gets for a friend's first order, within the monthly caps: at most
    `cap_count` rewards a month (0 = none), and cashback at most `cap_fen` a month in total (the
    last one is cut to what is left)."""
    if rewards_this_period >= cap_count:
        return ReferralReward(capped=True)
    if kind == "points":
        return ReferralReward(points=points)
    if kind == "coupon":
        return ReferralReward(coupon=True)
    wanted = fixed_fen + order_net_fen * percent_bp // 10000
    room = max(0, cap_fen - cashback_this_period_fen)
    amount = min(wanted, room)
    if amount <= 0:
        return ReferralReward(capped=True)
    return ReferralReward(cashback_fen=amount, capped=amount < wanted)
