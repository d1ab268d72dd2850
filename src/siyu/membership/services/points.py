"""Points (积分): earned on completed orders, spent at checkout, expiring, reversed on refunds.

Every movement is a `PointsEntry` with a unique business key, written while the customer's
`PointsAccount` row is locked, so a balance is never spent twice and a repeated event changes
nothing. The balance always equals the sum of the open lots' `remaining`; spending and reversals
take the soonest-expiring lots first. A refund that takes back more earned points than the balance
holds records the rest as `debt` (never a negative balance); new points pay the debt first.

Keys: `earn:{order}`, `redeem:{order}`, `redeem:{order}:cancel`,
`refund:{refund_key}:{line}:earn` / `:redeem`, `expire:{lot}`, `adjust:{key}`,
`referral:{order}`, `merge:{merged}:{survivor}:in|out`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.models import Customer

from .. import rules
from ..models import (
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsReason,
    PointsRedemption,
    ProductPointsRule,
)
from .program import program

SYSTEM = Actor.system("membership")
MAX_ADJUST = 1_000_000


class InsufficientPoints(Conflict):
    """Not enough points."""

    code = "insufficient_points"


# --- accounts ----------------------------------------------------------------------------------


def account_for(customer_id: int) -> PointsAccount:
    """The customer's points account, created on first use (race-safe)."""
    found = PointsAccount.objects.filter(customer_id=customer_id).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return PointsAccount.objects.create(customer_id=customer_id)
    except IntegrityError:
        return PointsAccount.objects.get(customer_id=customer_id)


def locked_account(customer_id: int) -> PointsAccount:
    """Lock the customer's account for the rest of the transaction (create it first if needed)."""
    account = account_for(customer_id)
    return PointsAccount.objects.select_for_update().get(pk=account.pk)


def balance(customer_id: int) -> int:
    return (
        PointsAccount.objects.filter(customer_id=customer_id)
        .values_list("balance", flat=True)
        .first()
        or 0
    )


# --- the primitives (account locked by the caller) ---------------------------------------------


def _entry(account, *, key, reason, delta, debt_delta=0, now, **extra) -> PointsEntry:
    account.balance += delta
    account.debt += debt_delta
    account.updated_at = now
    account.save(update_fields=["balance", "debt", "updated_at"])
    return PointsEntry.objects.create(
        account=account,
        key=key,
        reason=reason,
        delta=delta,
        debt_delta=debt_delta,
        balance_after=account.balance,
        created_at=now,
        **extra,
    )


def _posted(key: str) -> PointsEntry | None:
    return PointsEntry.objects.filter(key=key).first()


def _credit(
    account: PointsAccount,
    points: int,
    *,
    key: str,
    reason: str,
    now: datetime,
    expires_at: datetime | None = None,
    **extra,
) -> PointsEntry | None:
    """Add points: an outstanding debt is paid first, the rest becomes a lot that expires."""
    if points <= 0 or _posted(key):
        return None
    cover = min(points, account.debt)
    added = points - cover
    entry = _entry(
        account, key=key, reason=reason, delta=added, debt_delta=-cover, now=now, **extra
    )
    if added:
        expires_at = expires_at or rules.expiry_for(now, program().points_valid_months)
        PointsLot.objects.create(
            account=account,
            entry=entry,
            amount=added,
            remaining=added,
            earned_at=now,
            expires_at=expires_at,
        )
    return entry


def _consume(account: PointsAccount, points: int, *, prefer_entry_id: int | None = None):
    """Take `points` from the open lots, soonest-expiring first (a refund takes from the order's
    own lot first). Returns [(lot_id, taken, expires_at iso)]."""
    lots = list(
        PointsLot.objects.filter(account=account, remaining__gt=0).order_by("expires_at", "id")
    )
    if prefer_entry_id is not None:
        lots.sort(key=lambda lot: lot.entry_id != prefer_entry_id)
    taken, left = [], points
    for lot in lots:
        if left <= 0:
            break
        take = min(left, lot.remaining)
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        taken.append([lot.pk, take, lot.expires_at.isoformat()])
        left -= take
    if left:
        raise AssertionError(f"points lots of account {account.pk} do not cover its balance")
    return taken


def _debit(account, points: int, *, key: str, reason: str, now: datetime, **extra):
    """Spend points the balance holds (raises InsufficientPoints otherwise)."""
    if points <= 0 or _posted(key):
        return None
    _expire_account(account, now)
    if points > account.balance:
        raise InsufficientPoints(
            _("You have %(n)s points; %(m)s are needed.") % {"n": account.balance, "m": points},
            fields={"points": _("More than your balance.")},
        )
    lots = _consume(account, points)
    data = dict(extra.pop("data", {}) or {})
    data["lots"] = lots
    return _entry(account, key=key, reason=reason, delta=-points, now=now, data=data, **extra)


def _take_back(account, points: int, *, key: str, prefer_entry_id, now, **extra):
    """Take back earned points after a refund: from the balance as far as it goes, the rest
    becomes debt."""
    if points <= 0 or _posted(key):
        return None
    _expire_account(account, now)
    from_balance = min(points, account.balance)
    lots = _consume(account, from_balance, prefer_entry_id=prefer_entry_id) if from_balance else []
    return _entry(
        account,
        key=key,
        reason=PointsReason.REFUND,
        delta=-from_balance,
        debt_delta=points - from_balance,
        now=now,
        data={"lots": lots, "points": points},
        **extra,
    )


def _expire_account(account: PointsAccount, now: datetime) -> int:
    """Expire this account's lots that are due (account locked). Returns the points expired."""
    expired = 0
    for lot in PointsLot.objects.filter(account=account, remaining__gt=0, expires_at__lte=now):
        n = lot.remaining
        lot.remaining = 0
        lot.save(update_fields=["remaining"])
        _entry(
            account,
            key=f"expire:{lot.pk}",
            reason=PointsReason.EXPIRE,
            delta=-n,
            now=now,
            data={"lot": lot.pk, "expired_at": lot.expires_at.isoformat()},
        )
        expired += n
    return expired


# --- earning -----------------------------------------------------------------------------------


def earn_for_order(order_id: int, *, now: datetime | None = None) -> PointsEntry | None:
    """The order completed: credit the points its lines earn (on what was paid and not refunded),
    at the member's multiplier. Member-card lines earn nothing. Runs once per order."""
    from siyu.orders.models import Order

    from . import benefits

    now = now or timezone.now()
    settings_row = program()
    if not settings_row.points_enabled:
        return None
    key = f"earn:{order_id}"
    if _posted(key):
        return None
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.is_imported:
        return None
    lines = list(order.lines.select_related("sku__product"))
    net = sum(ln.paid_fen - ln.refunded_fen for ln in lines)
    if net <= 0 or net < settings_row.earn_min_order_fen:
        return None
    card_skus = benefits.card_sku_ids()
    product_ids = {ln.sku.product_id for ln in lines if ln.sku_id}
    product_rules = {
        r.product_id: r for r in ProductPointsRule.objects.filter(product_id__in=product_ids)
    }
    multiplier = benefits.for_customer(order.customer_id, at=now).points_multiplier_percent
    per_line = {}
    for ln in lines:
        if ln.sku_id in card_skus:
            continue
        rule = product_rules.get(ln.sku.product_id) if ln.sku_id else None
        pts = rules.points_for_line(
            ln.paid_fen - ln.refunded_fen,
            ln.quantity - ln.refunded_quantity,
            per_yuan=settings_row.earn_points_per_yuan,
            multiplier_percent=multiplier,
            product_mode=rule.mode if rule else "",
            product_value=rule.value if rule else 0,
        )
        if pts:
            per_line[str(ln.pk)] = pts
    total = sum(per_line.values())
    if total <= 0:
        return None
    with transaction.atomic():
        account = locked_account(order.customer_id)
        return _credit(
            account,
            total,
            key=key,
            reason=PointsReason.EARN,
            now=now,
            order_id=order.pk,
            note=order.number,
            data={"lines": per_line, "multiplier_percent": multiplier},
        )


# --- spending at checkout ----------------------------------------------------------------------


def redeem_for_order(
    customer_id: int, order_id: int, points: int, line_points: dict[int, int]
) -> PointsRedemption:
    """Spend points on an order being placed (inside the placement transaction; raising aborts
    the placement). `line_points` is each order line's share."""
    now = timezone.now()
    account = locked_account(customer_id)
    _debit(
        account,
        points,
        key=f"redeem:{order_id}",
        reason=PointsReason.REDEEM,
        now=now,
        order_id=order_id,
    )
    return PointsRedemption.objects.create(
        order_id=order_id,
        account=account,
        points=points,
        value_fen=points * program().redeem_fen_per_point,
        line_shares={str(k): v for k, v in line_points.items()},
        created_at=now,
    )


def _return_expiry(entry: PointsEntry | None, now: datetime) -> datetime:
    """Returned points keep the latest expiry of the lots they came from, and at least until the
    end of next month."""
    floor = rules.expiry_for(now, 1)
    latest = None
    for _lot, _n, iso in entry.data.get("lots", []) if entry else []:
        at = datetime.fromisoformat(iso)
        latest = at if latest is None or at > latest else latest
    return max(floor, latest) if latest else floor


def return_for_cancelled_order(order_id: int, *, now: datetime | None = None) -> None:
    """An unpaid order was cancelled (or timed out): every point it used comes back."""
    now = now or timezone.now()
    redemption = PointsRedemption.objects.filter(order_id=order_id).first()
    if redemption is None:
        return
    account = PointsAccount.objects.select_for_update().get(pk=redemption.account_id)
    returned = _returned(order_id)
    _credit(
        account,
        redemption.points - returned,
        key=f"redeem:{order_id}:cancel",
        reason=PointsReason.REDEEM_RETURN,
        now=now,
        expires_at=_return_expiry(_posted(f"redeem:{order_id}"), now),
        order_id=order_id,
    )


def _returned(order_id: int, line_id: int | None = None) -> int:
    qs = PointsEntry.objects.filter(order_id=order_id, reason=PointsReason.REDEEM_RETURN)
    if line_id is not None:
        qs = qs.filter(order_line_id=line_id)
    agg = qs.aggregate(a=Sum("delta"), d=Sum("debt_delta"))
    return (agg["a"] or 0) - (agg["d"] or 0)


def _taken_back(line_id: int) -> int:
    agg = PointsEntry.objects.filter(order_line_id=line_id, reason=PointsReason.REFUND).aggregate(
        a=Sum("delta"), d=Sum("debt_delta")
    )
    return -(agg["a"] or 0) + (agg["d"] or 0)


def apply_line_refund(
    line_id: int, amount_fen: int, refund_key: str, *, now: datetime | None = None
) -> None:
    """Money went back for (part of) a line: the points it earned are taken back, and the points
    spent on it come back, both in proportion to the refund (the line's last refund settles the
    rest). Runs inside the refund's transaction; idempotent by key."""
    from siyu.orders.models import OrderLine

    now = now or timezone.now()
    line = OrderLine.objects.select_related("order").filter(pk=line_id).first()
    if line is None or amount_fen <= 0:
        return
    order = line.order
    earned = _posted(f"earn:{order.pk}")
    redemption = PointsRedemption.objects.filter(order_id=order.pk).first()
    earned_pts = int(earned.data.get("lines", {}).get(str(line_id), 0)) if earned else 0
    spent_pts = int(redemption.line_shares.get(str(line_id), 0)) if redemption else 0
    if not earned_pts and not spent_pts:
        return
    final = line.refunded_fen >= line.paid_fen
    net_before = line.paid_fen - line.refunded_fen + amount_fen
    account = locked_account(order.customer_id)
    if earned_pts:
        due = rules.proportional_due(
            total=earned_pts,
            done=_taken_back(line_id),
            amount_fen=amount_fen,
            net_before_fen=net_before,
            final=final,
        )
        _take_back(
            account,
            due,
            key=f"refund:{refund_key}:{line_id}:earn",
            prefer_entry_id=earned.pk,
            now=now,
            order_id=order.pk,
            order_line_id=line_id,
        )
    if spent_pts:
        due = rules.proportional_due(
            total=spent_pts,
            done=_returned(order.pk, line_id),
            amount_fen=amount_fen,
            net_before_fen=net_before,
            final=final,
        )
        _credit(
            account,
            due,
            key=f"refund:{refund_key}:{line_id}:redeem",
            reason=PointsReason.REDEEM_RETURN,
            now=now,
            expires_at=_return_expiry(_posted(f"redeem:{order.pk}"), now),
            order_id=order.pk,
            order_line_id=line_id,
        )


# --- rewards, adjustments, expiry --------------------------------------------------------------


def reward(customer_id: int, points: int, *, key: str, note: str = "", order_id=None):
    """Points given as a reward (a referral): inside the caller's transaction."""
    account = locked_account(customer_id)
    return _credit(
        account,
        points,
        key=key,
        reason=PointsReason.REFERRAL,
        now=timezone.now(),
        note=note[:255],
        order_id=order_id,
    )


def adjust(customer_id: int, points: int, *, actor: Actor, reason: str, key: str) -> PointsEntry:
    """An operator adds or removes points, with the reason recorded (and audited). Removing more
    than the balance is refused: operators cannot create a debt. `key` (the form's idempotency
    key) makes a double submit count once."""
    authorize(actor, "membership.adjust_points")
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = _("Say why the points change.")
    if not points or abs(points) > MAX_ADJUST:
        errors["points"] = _("A non-zero number of points, at most %(n)s either way.") % {
            "n": MAX_ADJUST
        }
    if not key:
        errors["key"] = _("Missing.")
    if errors:
        raise ValidationFailed(_("The adjustment is incomplete."), fields=errors)
    if not Customer.objects.filter(pk=customer_id, merged_into__isnull=True).exists():
        raise NotFound(_("No such customer."))
    now = timezone.now()
    full_key = f"adjust:{key}"[:120]
    with transaction.atomic():
        account = locked_account(customer_id)
        existing = _posted(full_key)
        if existing is not None:
            return existing
        extra = {"note": reason[:255], "actor_label": actor.label[:150]}
        if points > 0:
            entry = _credit(
                account, points, key=full_key, reason=PointsReason.ADJUST, now=now, **extra
            )
        else:
            _expire_account(account, now)
            if -points > account.balance:
                raise InsufficientPoints(
                    _("The customer has only %(n)s points.") % {"n": account.balance},
                    fields={"points": _("More than the balance.")},
                )
            entry = _debit(
                account, -points, key=full_key, reason=PointsReason.ADJUST, now=now, **extra
            )
        audit.record(
            actor,
            "membership.points_adjusted",
            object_type="customers.customer",
            object_id=customer_id,
            summary=f"{points:+d}: {reason}"[:255],
            data={"points": points, "entry": entry.pk},
        )
    return entry


def expire_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Expire every lot that is due (the periodic job). Returns the points expired."""
    now = now or timezone.now()
    account_ids = list(
        PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .order_by("account_id")
        .values_list("account_id", flat=True)
        .distinct()[:limit]
    )
    total = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = PointsAccount.objects.select_for_update().get(pk=account_id)
            total += _expire_account(account, now)
    return total


def expiring_soon(customer_id: int, *, days: int = 30, now: datetime | None = None) -> dict:
    """Points that expire within `days`, and the soonest date (for the member centre)."""
    now = now or timezone.now()
    qs = PointsLot.objects.filter(
        account__customer_id=customer_id,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=days),
    )
    agg = qs.aggregate(n=Sum("remaining"))
    first = qs.order_by("expires_at").values_list("expires_at", flat=True).first()
    return {"points": agg["n"] or 0, "at": first}


def history(customer_id: int, *, actor: Actor, before_id: int | None = None, size: int = 30):
    """A customer's points entries, newest first (the shopper themself, or staff allowed to view
    membership)."""
    if not (actor.kind == "customer" and actor.customer_id == customer_id):
        authorize(actor, "membership.view")
    qs = PointsEntry.objects.filter(account__customer_id=customer_id).order_by("-id")
    if before_id:
        qs = qs.filter(id__lt=before_id)
    return list(qs[:size])


# --- the customer pool -------------------------------------------------------------------------


def move_customer(merged_id: int, survivor_id: int) -> None:
    """A merge: the merged record's points (and debt) move to the survivor, with their lots and
    expiry dates, through a pair of entries; its history stays readable on its own account."""
    merged = PointsAccount.objects.filter(customer_id=merged_id).first()
    if merged is None:
        return
    now = timezone.now()
    survivor = account_for(survivor_id)
    first, second = sorted([merged.pk, survivor.pk])
    locked = {
        a.pk: a
        for a in PointsAccount.objects.select_for_update()
        .filter(pk__in=[first, second])
        .order_by("pk")
    }
    merged, survivor = locked[merged.pk], locked[survivor.pk]
    points, debt = merged.balance, merged.debt
    if not points and not debt:
        return
    key = f"merge:{merged_id}:{survivor_id}"
    if _posted(f"{key}:out"):
        return
    _entry(
        merged,
        key=f"{key}:out",
        reason=PointsReason.MERGE,
        delta=-points,
        debt_delta=-debt,
        now=now,
        note=f"→ {survivor_id}",
    )
    entry = _entry(
        survivor,
        key=f"{key}:in",
        reason=PointsReason.MERGE,
        delta=points,
        debt_delta=debt,
        now=now,
        note=f"← {merged_id}",
    )
    PointsLot.objects.filter(account=merged, remaining__gt=0).update(account=survivor)
    # A survivor with both points and debt nets them, so the rule "debt only when the balance is
    # empty" keeps holding.
    net = min(survivor.balance, survivor.debt)
    if net:
        lots = _consume(survivor, net)
        _entry(
            survivor,
            key=f"{key}:net",
            reason=PointsReason.MERGE,
            delta=-net,
            debt_delta=-net,
            now=now,
            data={"lots": lots, "after": entry.pk},
        )


def save_product_rule(*, actor: Actor, product_id: int, mode: str, value: int) -> ProductPointsRule:
    from siyu.catalog.models import Product

    authorize(actor, "membership.manage")
    if not Product.objects.filter(pk=product_id).exists():
        raise ValidationFailed(fields={"product_id": _("No such product.")})
    if mode not in ProductPointsRule.Mode.values:
        raise ValidationFailed(fields={"mode": _("Choose a rule.")})
    if mode == ProductPointsRule.Mode.MULTIPLIER and not 0 <= value <= 1000:
        raise ValidationFailed(fields={"value": _("A multiplier between 0 and 1000%.")})
    rule, _created = ProductPointsRule.objects.update_or_create(
        product_id=product_id,
        defaults={"mode": mode, "value": value, "updated_at": timezone.now()},
    )
    audit.record(
        actor, "membership.product_rule_set", obj=rule, data={"mode": mode, "value": value}
    )
    return rule
