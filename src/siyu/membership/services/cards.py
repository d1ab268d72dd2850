"""Paid member cards (付费会员卡): a catalogue SKU linked to a `CardPlan`, bought through the normal
checkout and paid through payments.

* Paid: each unit of a card line becomes a `MemberCard` (key `card:{line}:{unit}`), starting now
  or, for a renewal, when the customer's last card ends. An order of card lines only is delivered
  electronically at once (shipped and confirmed by the system), so its after-sales window starts.
* Benefits apply at checkout while a card is valid (`benefits`); each paid order that used one is
  recorded (`CardBenefitUse`), which decides the refund.
* Refunds (`refund_amount`, docs/membership.md): in full within the plan's `full_refund_days` if no
  benefit was used; otherwise the unused days' share minus the benefits enjoyed; nothing once the
  order's after-sales window has closed. Any refund of a card line ends its cards.
* Renewal reminders: a daily job records one `CardReminder` per card ending within
  `card_reminder_days` that has no renewal yet; the member centre shows it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.money import split_proportionally

from .. import rules
from ..models import (
    CardBenefitUse,
    CardPlan,
    CardReminder,
    CardStatus,
    MemberCard,
)
from . import benefits, coupons
from .program import program

log = logging.getLogger(__name__)
SYSTEM = Actor.system("membership")

PLAN_FIELDS = (
    "name",
    "duration_days",
    "discount_percent",
    "member_price",
    "free_shipping",
    "points_multiplier_percent",
    "monthly_coupon_id",
    "full_refund_days",
    "is_active",
    "description",
)


def save_plan(
    *, actor: Actor, sku_code: str = "", plan_id: int | None = None, **values
) -> CardPlan:
    """Create a plan for a catalogue SKU (by its code), or change one."""
    from siyu.catalog.models import Sku

    authorize(actor, "membership.manage")
    unknown = set(values) - set(PLAN_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Not a card field.") for k in unknown})
    errors = {}
    if not str(values.get("name", "")).strip():
        errors["name"] = _("Required.")
    if not 1 <= int(values.get("duration_days") or 0) <= 3660:
        errors["duration_days"] = _("Between 1 and 3660 days.")
    if not 0 <= int(values.get("discount_percent") or 0) <= 90:
        errors["discount_percent"] = _("Between 0 and 90.")
    if values.get("monthly_coupon_id") and not coupons.exists(values["monthly_coupon_id"]):
        errors["monthly_coupon_id"] = _("No such coupon.")
    sku = None
    if plan_id is None:
        sku = Sku.objects.filter(code=(sku_code or "").strip()).first()
        if sku is None:
            errors["sku_code"] = _("No SKU has this code.")
        elif CardPlan.objects.filter(sku=sku).exists():
            errors["sku_code"] = _("This SKU already sells a card.")
    if errors:
        raise ValidationFailed(_("The card plan is invalid."), fields=errors)
    with transaction.atomic():
        if plan_id:
            plan = CardPlan.objects.select_for_update().filter(pk=plan_id).first()
            if plan is None:
                raise NotFound(_("No such card plan."))
        else:
            plan = CardPlan(sku=sku)
        for name, value in values.items():
            setattr(plan, name, value)
        plan.save()
        audit.record(actor, "membership.card_plan_saved", obj=plan, summary=plan.name)
    return plan


def plans_on_sale() -> list[CardPlan]:
    return list(
        CardPlan.objects.select_related("sku__product")
        .filter(is_active=True, sku__is_active=True)
        .order_by("sku__price_fen")
    )


def cards_of(customer_id: int) -> list[MemberCard]:
    return list(MemberCard.objects.select_related("plan").filter(customer_id=customer_id))


def _card_lines(order):
    plans = {
        p.sku_id: p
        for p in CardPlan.objects.filter(
            sku_id__in=[ln.sku_id for ln in order.lines.all() if ln.sku_id]
        )
    }
    return [(ln, plans[ln.sku_id]) for ln in order.lines.all() if ln.sku_id in plans], plans


def activate_for_order(order_id: int, *, now: datetime | None = None) -> list[MemberCard]:
    """The order was paid: its card lines become cards (inside the payment's transaction)."""
    from siyu.customers.models import Customer
    from siyu.orders.models import Order

    now = now or timezone.now()
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return []
    lines, _plans = _card_lines(order)
    if not lines:
        return []
    # One customer's cards chain end to start: serialise their activations.
    Customer.objects.select_for_update().filter(pk=order.customer_id).exists()
    created = []
    for line, plan in lines:
        prices = split_proportionally(line.paid_fen, [1] * line.quantity)
        for unit in range(line.quantity):
            key = f"card:{line.pk}:{unit + 1}"
            if MemberCard.objects.filter(key=key).exists():
                continue
            last_end = MemberCard.objects.filter(
                customer_id=order.customer_id, status=CardStatus.ACTIVE, ends_at__gt=now
            ).aggregate(m=Max("ends_at"))["m"]
            starts = max(now, last_end) if last_end else now
            created.append(
                MemberCard.objects.create(
                    customer_id=order.customer_id,
                    plan=plan,
                    key=key,
                    order_id=order.pk,
                    order_line_id=line.pk,
                    price_fen=prices[unit],
                    starts_at=starts,
                    ends_at=starts + timedelta(days=plan.duration_days),
                    created_at=now,
                )
            )
    return created


def deliver_if_only_cards(order_id: int) -> bool:
    """A paid order of nothing but member cards needs no parcel: the system ships it
    electronically and confirms receipt, so it completes and its after-sales window starts."""
    from siyu.orders import services as orders
    from siyu.orders.models import Order, OrderStatus

    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.PAID:
        return False
    lines, _plans = _card_lines(order)
    if not lines or len(lines) != order.lines.count():
        return False
    system = Actor.system("membership-card")
    orders.ship(order.pk, actor=system, carrier="electronic", tracking_no=f"CARD{order.pk}")
    orders.confirm_receipt(order.pk, actor=system)
    return True


def deliver_pending(limit: int = 500) -> int:
    """Deliver paid card-only orders still waiting (the periodic safety net)."""
    from siyu.orders.models import Order, OrderStatus

    skus = benefits.card_sku_ids()
    if not skus:
        return 0
    ids = (
        Order.objects.filter(status=OrderStatus.PAID, lines__sku_id__in=skus)
        .exclude(lines__sku_id__isnull=True)
        .exclude(lines__sku__card_plan__isnull=True)
        .values_list("pk", flat=True)
        .distinct()[:limit]
    )
    return sum(1 for pk in list(ids) if deliver_if_only_cards(pk))


def record_benefit_use(order_id: int) -> None:
    """A paid order used a card benefit (a card-priced line, or free shipping only the card
    gives): recorded once per order, against the card valid when the order was placed."""
    from siyu.orders.models import Order, OrderAdjustment

    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return
    card_refs = (
        OrderAdjustment.objects.filter(order_id=order_id, ref__startswith="card:")
        .values("ref")
        .annotate(total=Sum("amount_fen"))
    )
    for row in card_refs:
        card_id = int(row["ref"].split(":", 1)[1])
        CardBenefitUse.objects.get_or_create(
            key=f"use:{order_id}:{card_id}:discount",
            defaults={
                "card_id": card_id,
                "kind": CardBenefitUse.Kind.DISCOUNT,
                "order_id": order_id,
                "amount_fen": row["total"],
            },
        )
    if order.is_pickup or order.shipping_fen:
        return
    goods = order.goods_amount_fen - order.discount_fen
    if goods >= settings.SIYU_FREE_SHIPPING_FROM_FEN:
        return
    found = benefits.for_customer(order.customer_id, at=order.placed_at)
    if found.card and found.card_only("free_shipping"):
        CardBenefitUse.objects.get_or_create(
            key=f"use:{order_id}:{found.card.pk}:shipping",
            defaults={
                "card_id": found.card.pk,
                "kind": CardBenefitUse.Kind.SHIPPING,
                "order_id": order_id,
                "amount_fen": settings.SIYU_SHIPPING_FEE_FEN,
            },
        )


def refund_amount(card: MemberCard, *, now: datetime | None = None) -> int:
    """What refunding this card gives back now (see the module docstring)."""
    from siyu.orders.models import Order, OrderStatus

    now = now or timezone.now()
    if card.status != CardStatus.ACTIVE or card.ends_at <= now:
        return 0
    status = Order.objects.filter(pk=card.order_id).values_list("status", flat=True).first()
    if status in (OrderStatus.CLOSED, OrderStatus.REFUNDED, OrderStatus.CANCELLED, None):
        return 0
    used = card.benefit_uses.aggregate(n=Sum("amount_fen"))["n"]
    return rules.card_refund_fen(
        price_fen=card.price_fen,
        starts_at=card.starts_at,
        ends_at=card.ends_at,
        now=now,
        benefits_fen=used or 0,
        used=used is not None,
        full_refund_days=card.plan.full_refund_days,
    )


def refund_card(card_id: int, *, actor: Actor, note: str = "") -> int:
    """Refund a card by the rules: an approved refund of its order line for `refund_amount`,
    carried out by orders and payments; the refund ends the card. Returns the amount."""
    from siyu.orders import services as orders
    from siyu.orders.models import AfterSaleKind, AfterSaleReason

    authorize(actor, "membership.manage")
    card = MemberCard.objects.select_related("plan").filter(pk=card_id).first()
    if card is None:
        raise NotFound(_("No such card."))
    amount = refund_amount(card)
    if amount <= 0:
        raise Conflict(
            _("This card can no longer be refunded under the card rules."), code="not_refundable"
        )
    case = orders.request_after_sale(
        card.order_id,
        actor=actor,
        kind=AfterSaleKind.REFUND_ONLY,
        quantities={card.order_line_id: 1},
        amounts={card.order_line_id: amount},
        reason=AfterSaleReason.MERCHANT,
        description=note or _("Member card refund"),
    )
    orders.approve_after_sale(case.pk, actor=actor, note=note)
    audit.record(actor, "membership.card_refunded", obj=card, data={"amount_fen": amount})
    return amount


def end_cards_for_refund(line_id: int, *, now: datetime | None = None) -> int:
    """A card line was refunded (by the card rules or any after-sales case): as many of its
    cards as units were refunded end now, the latest periods first."""
    from siyu.orders.models import OrderLine

    now = now or timezone.now()
    line = OrderLine.objects.filter(pk=line_id).first()
    if line is None:
        return 0
    cards = list(
        MemberCard.objects.select_for_update()
        .filter(order_line_id=line_id)
        .order_by("-starts_at", "-id")
    )
    if not cards:
        return 0
    units = max(line.refunded_quantity, 1 if line.refunded_fen > 0 else 0)
    ended = [c for c in cards if c.status == CardStatus.REFUNDED]
    todo = [c for c in cards if c.status == CardStatus.ACTIVE][: max(0, units - len(ended))]
    for card in todo:
        card.status = CardStatus.REFUNDED
        card.refunded_at = now
        card.save(update_fields=["status", "refunded_at"])
    return len(todo)


def remind_due(*, now: datetime | None = None) -> int:
    """Record a renewal reminder for every valid card ending within the reminder period whose
    holder has no later card yet (once per card)."""
    now = now or timezone.now()
    horizon = now + timedelta(days=program().card_reminder_days)
    ending = MemberCard.objects.filter(
        status=CardStatus.ACTIVE, ends_at__gt=now, ends_at__lte=horizon, reminders__isnull=True
    ).values_list("pk", "customer_id", "ends_at")
    made = 0
    for card_id, customer_id, ends_at in ending:
        renewed = MemberCard.objects.filter(
            customer_id=customer_id, status=CardStatus.ACTIVE, starts_at__gte=ends_at
        ).exists()
        if renewed:
            continue
        _obj, created = CardReminder.objects.get_or_create(
            card_id=card_id, defaults={"customer_id": customer_id, "ends_at": ends_at}
        )
        made += int(created)
    return made


def open_reminder(customer_id: int) -> CardReminder | None:
    """The renewal reminder to show (not dismissed, card not renewed or refunded since)."""
    reminder = (
        CardReminder.objects.select_related("card__plan")
        .filter(customer_id=customer_id, dismissed_at__isnull=True, card__status=CardStatus.ACTIVE)
        .order_by("-created_at")
        .first()
    )
    if reminder is None:
        return None
    if MemberCard.objects.filter(
        customer_id=customer_id, status=CardStatus.ACTIVE, starts_at__gte=reminder.ends_at
    ).exists():
        return None
    return reminder


def grant_monthly_coupons(*, now: datetime | None = None) -> int:
    """Each valid card's plan may carry a monthly coupon: granted once per card per month
    (key `cardcoupon:{card}:{YYYY-MM}`) through marketing."""
    now = now or timezone.now()
    if not coupons.available():
        return 0
    month = rules.month_label(now)
    granted = 0
    valid = MemberCard.objects.select_related("plan").filter(
        Q(plan__monthly_coupon_id__isnull=False),
        status=CardStatus.ACTIVE,
        starts_at__lte=now,
        ends_at__gt=now,
    )
    for card in valid:
        key = f"cardcoupon:{card.pk}:{month}"
        coupons.grant(
            card.customer_id, card.plan.monthly_coupon_id, source="membership.card", key=key
        )
        granted += 1
    return granted


def move_customer(merged_id: int, survivor_id: int) -> None:
    """A merge: cards and reminders follow the person."""
    if not MemberCard.objects.filter(customer_id=merged_id).exists():
        return
    MemberCard.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
    CardReminder.objects.filter(customer_id=merged_id).update(customer_id=survivor_id)
