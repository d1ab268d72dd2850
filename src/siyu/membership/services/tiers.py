"""Tiers by rolling spend (会员等级).

Spend is what the customer paid minus what was refunded, on orders paid within the programme's
window (365 days by default). Upgrades happen as soon as an order completes (and at the daily
evaluation); a member whose spend fell below their tier keeps it for the grace period, counted from
the first evaluation that found them below, then drops to the tier their spend reaches. Reaching a
tier grants its coupon once (key `tier:{member}:{tier}`).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed

from .. import rules
from ..models import Member, Tier, TierChange
from . import coupons
from .program import program

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
SPEND_STATUSES = (
    "paid",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "closed",
    "refunded",
)


def _new_code() -> str:
    return "M" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(7))


def member_for(customer_id: int) -> Member:
    """The customer's membership row (with an invitation code), created on first use."""
    found = Member.objects.select_related("tier").filter(customer_id=customer_id).first()
    if found is not None:
        if not found.code:
            Member.objects.filter(pk=found.pk, code__isnull=True).update(code=_new_code())
            found.refresh_from_db()
        return found
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Member.objects.create(customer_id=customer_id, code=_new_code())
        except IntegrityError:
            found = Member.objects.filter(customer_id=customer_id).first()
            if found is not None:
                return found
    raise Conflict(_("Could not create the membership; try again."))


def tier_rules() -> list[rules.TierRule]:
    return [rules.TierRule(t.pk, t.rank, t.min_spend_fen) for t in Tier.objects.all()]


def rolling_spend(customer_ids, *, now: datetime) -> dict[int, int]:
    """Spend within the window for these customers (one grouped query)."""
    from siyu.orders.models import Order

    since = now - timedelta(days=program().tier_window_days)
    rows = (
        Order.objects.filter(
            customer_id__in=list(customer_ids), paid_at__gte=since, status__in=SPEND_STATUSES
        )
        .values("customer_id")
        .annotate(spend=Sum(F("paid_fen") - F("refunded_fen")))
    )
    return {r["customer_id"]: max(0, r["spend"] or 0) for r in rows}


def _apply(member: Member, spend: int, tiers, *, now: datetime, upgrade_only: bool) -> str:
    by_id = {t.id: t for t in tiers}
    current = by_id.get(member.tier_id)
    qualified = rules.tier_for_spend(spend, tiers)
    decision = rules.evaluate_tier(
        current=current,
        qualified=qualified,
        below_since=member.below_since,
        now=now,
        grace_days=program().tier_grace_days,
    )
    if upgrade_only and decision.change != "upgrade":
        if member.rolling_spend_fen != spend:
            Member.objects.filter(pk=member.pk).update(rolling_spend_fen=spend)
        return ""
    changed_tier = decision.tier_id != member.tier_id
    from_tier = member.tier_id
    member.rolling_spend_fen = spend
    member.evaluated_at = now
    member.below_since = decision.below_since
    if changed_tier:
        member.tier_id = decision.tier_id
        member.tier_since = now
    member.save(
        update_fields=["rolling_spend_fen", "evaluated_at", "below_since", "tier", "tier_since"]
    )
    if decision.change:
        TierChange.objects.create(
            member=member,
            from_tier_id=from_tier,
            to_tier_id=decision.tier_id,
            reason=decision.change,
            spend_fen=spend,
            at=now,
        )
    if decision.change == "upgrade":
        _grant_tier_coupons(member, current, decision.tier_id)
    return decision.change


def _grant_tier_coupons(member: Member, previous, new_tier_id: int | None) -> None:
    """Every tier reached on the way up grants its coupon once."""
    low = previous.rank if previous else -1
    new_rank = Tier.objects.filter(pk=new_tier_id).values_list("rank", flat=True).first()
    if new_rank is None:
        return
    for tier in Tier.objects.filter(rank__gt=low, rank__lte=new_rank, coupon_id__isnull=False):
        coupons.grant(
            member.customer_id,
            tier.coupon_id,
            source="membership.tier",
            key=f"tier:{member.pk}:{tier.pk}",
        )


def evaluate(customer_id: int, *, now: datetime | None = None, upgrade_only=False) -> str:
    """Re-evaluate one member's tier (an order completed: `upgrade_only`)."""
    now = now or timezone.now()
    tiers = tier_rules()
    if not tiers:
        return ""
    member = member_for(customer_id)
    spend = rolling_spend([customer_id], now=now).get(customer_id, 0)
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        return _apply(member, spend, tiers, now=now, upgrade_only=upgrade_only)


def evaluate_all(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """The periodic evaluation: every member, and every customer who spent within the window but
    has no membership row yet. Returns counts of changes."""
    from siyu.orders.models import Order

    now = now or timezone.now()
    tiers = tier_rules()
    counts = {"upgrade": 0, "downgrade": 0, "grace": 0, "restored": 0, "evaluated": 0}
    if not tiers:
        return counts
    since = now - timedelta(days=program().tier_window_days)
    spenders = (
        Order.objects.filter(paid_at__gte=since, status__in=SPEND_STATUSES)
        .exclude(customer__membership__isnull=False)
        .values_list("customer_id", flat=True)
        .distinct()
    )
    for cid in list(spenders[:50000]):
        member_for(cid)
    last = 0
    while True:
        ids = list(
            Member.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "customer_id")[:batch]
        )
        if not ids:
            break
        last = ids[-1][0]
        spend = rolling_spend([c for _pk, c in ids], now=now)
        with transaction.atomic():
            members = Member.objects.select_for_update().filter(pk__in=[p for p, _c in ids])
            for member in members.order_by("pk"):
                change = _apply(
                    member, spend.get(member.customer_id, 0), tiers, now=now, upgrade_only=False
                )
                counts["evaluated"] += 1
                if change:
                    counts[change] += 1
    return counts


def progress(customer_id: int) -> dict:
    """Tier progress for the member centre: current tier, the next one and what is missing."""
    member = member_for(customer_id)
    tiers = list(Tier.objects.all())
    spend = rolling_spend([customer_id], now=timezone.now()).get(customer_id, 0)
    current = member.tier
    next_tier = next(
        (t for t in tiers if t.min_spend_fen > spend and (not current or t.rank > current.rank)),
        None,
    )
    percent = 100
    if next_tier:
        floor = current.min_spend_fen if current else 0
        span = max(1, next_tier.min_spend_fen - floor)
        percent = max(0, min(100, (spend - floor) * 100 // span))
    return {
        "member": member,
        "tier": current,
        "spend_fen": spend,
        "next": next_tier,
        "missing_fen": (next_tier.min_spend_fen - spend) if next_tier else 0,
        "percent": percent,
        "tiers": tiers,
        "grace_until": (
            member.below_since + timedelta(days=program().tier_grace_days)
            if member.below_since
            else None
        ),
    }


TIER_FIELDS = (
    "name",
    "rank",
    "min_spend_fen",
    "discount_percent",
    "member_price",
    "free_shipping",
    "points_multiplier_percent",
    "coupon_id",
    "description",
)


def save_tier(*, actor: Actor, tier_id: int | None = None, **values) -> Tier:
    authorize(actor, "membership.manage")
    unknown = set(values) - set(TIER_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Not a tier field.") for k in unknown})
    errors = {}
    if not str(values.get("name", "")).strip():
        errors["name"] = _("Required.")
    if not 0 <= int(values.get("discount_percent") or 0) <= 90:
        errors["discount_percent"] = _("Between 0 and 90.")
    if int(values.get("min_spend_fen") or 0) < 0:
        errors["min_spend_fen"] = _("Cannot be negative.")
    if not 100 <= int(values.get("points_multiplier_percent") or 100) <= 1000:
        errors["points_multiplier_percent"] = _("Between 100 and 1000.")
    if values.get("coupon_id") and not coupons.exists(values["coupon_id"]):
        errors["coupon_id"] = _("No such coupon.")
    rank = values.get("rank")
    clash = Tier.objects.filter(rank=rank).exclude(pk=tier_id)
    if clash.exists():
        errors["rank"] = _("Another tier has this rank.")
    if errors:
        raise ValidationFailed(_("The tier is invalid."), fields=errors)
    with transaction.atomic():
        if tier_id:
            tier = Tier.objects.select_for_update().filter(pk=tier_id).first()
            if tier is None:
                raise NotFound(_("No such tier."))
        else:
            tier = Tier()
        for name, value in values.items():
            setattr(tier, name, value)
        tier.name = tier.name.strip()
        tier.save()
        audit.record(actor, "membership.tier_saved", obj=tier, summary=tier.name)
    return tier


def move_customer(merged_id: int, survivor_id: int) -> None:
    """A merge: the survivor keeps the higher tier; the merged record's membership ends."""
    merged = Member.objects.select_related("tier").filter(customer_id=merged_id).first()
    if merged is None:
        return
    survivor = Member.objects.select_related("tier").filter(customer_id=survivor_id).first()
    if survivor is None:
        Member.objects.filter(pk=merged.pk).update(customer_id=survivor_id)
        return
    if merged.tier and (survivor.tier is None or merged.tier.rank > survivor.tier.rank):
        Member.objects.filter(pk=survivor.pk).update(
            tier=merged.tier, tier_since=merged.tier_since, below_since=merged.below_since
        )
    Member.objects.filter(pk=merged.pk).update(code=None, tier=None)


def forget_customer(customer_id: int) -> None:
    """An erasure: the invitation code (which links shares to the person) goes."""
    Member.objects.filter(customer_id=customer_id).update(code=None)
