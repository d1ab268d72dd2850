"""Checkout: quote an order on the server, then place it, reserving stock, exactly once per
Idempotency-Key.

Placement does its reads (SKUs, stock plan, customer, pricing) before the transaction, then in
one short transaction: insert the order, its lines and history, enqueue the unpaid-timeout task,
let price adjusters commit (a coupon is used up), and last reserve stock with a conditional
UPDATE per SKU, so the hot stock row is locked only for the final statements before COMMIT.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog import stock
from siyu.catalog.models import Fulfilment, Location, ProductStatus, Sku
from siyu.core import crypto, events
from siyu.core.access import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers.models import Customer

from .. import attribution, pricing
from ..errors import IdempotencyKeyReused, NotOnSale, PurchaseLimitExceeded
from ..events import OrderPlaced
from ..models import (
    CartItem,
    Channel,
    DeliveryMethod,
    Order,
    OrderAdjustment,
    OrderLine,
    OrderStatus,
    OrderStatusChange,
)
from ..tasks import schedule_unpaid_timeout
from .cart import MAX_QUANTITY
from .common import new_number

log = logging.getLogger(__name__)

MAX_LINES = 50


@dataclass
class Address:
    name: str
    phone: str
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""


@dataclass
class Checkout:
    """What a shopper asks for. Never contains a price."""

    items: list[tuple[int, int]]  # (sku_id, quantity)
    delivery_method: str = DeliveryMethod.DELIVERY
    store_id: int | None = None  # pickup store
    address: Address | None = None
    buyer_note: str = ""
    channel: str = Channel.MALL
    # for price adjusters: {"coupon_codes": [...]} and the like
    context: dict = field(default_factory=dict)
    # for attribution resolvers: {"staff_ref": ..., "share_code": ...}
    hints: dict = field(default_factory=dict)
    from_cart: bool = False
    # Set by other apps ordering as the system (group buy): a hold that keeps the paid order from
    # shipping until that app releases it, and an earlier payment deadline than the default.
    fulfilment_hold: str = ""
    pay_before: datetime | None = None


@dataclass
class Placed:
    order: Order
    created: bool  # False when the Idempotency-Key returned an existing order
    # What placement just wrote, for showing the new order without reading it back
    # (None for a replayed order).
    related: OrderRelated | None = None


@dataclass(frozen=True)
class OrderRelated:
    """An order's related rows as lists, for `presenters.order_detail(..., related=...)`."""

    lines: list
    history: list
    adjustments: list
    shipments: list = field(default_factory=list)
    after_sales: list = field(default_factory=list)


def _customer_for(actor: Actor, customer_id: int | None) -> int:
    """Shoppers order for themselves; other apps (group buy, flash sale) order as the system on a
    customer's behalf."""
    if actor.kind == "customer" and actor.customer_id:
        if customer_id not in (None, actor.customer_id):
            raise PermissionDenied(_("You are not allowed to do this."))
        return actor.customer_id
    if actor.is_system and customer_id:
        return customer_id
    raise PermissionDenied(_("Only a shopper can place an order."))


def _active_customer(customer_id: int) -> Customer:
    customer = (
        Customer.objects.filter(pk=customer_id)
        .only(
            "pk",
            "owner_kind",
            "owner_id",
            "owner_user_id",
            "store_id",
            "merged_into_id",
            "erased_at",
        )
        .first()
    )
    if customer is None or not customer.is_active:
        raise NotFound(_("This customer account is not active."))
    return customer


def _merge_items(items: list[tuple[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for sku_id, quantity in items:
        merged[int(sku_id)] = merged.get(int(sku_id), 0) + int(quantity)
    if not merged:
        raise ValidationFailed(_("Choose something to buy."), fields={"items": _("empty")})
    if len(merged) > MAX_LINES:
        raise ValidationFailed(
            _("An order holds at most %(n)s different items.") % {"n": MAX_LINES},
            fields={"items": _("too many")},
        )
    bad = {str(s): _("out of range") for s, q in merged.items() if q < 1 or q > MAX_QUANTITY}
    if bad:
        raise ValidationFailed(
            _("Choose between 1 and %(max)s of each item.") % {"max": MAX_QUANTITY}, fields=bad
        )
    return merged


def _quote_lines(wanted: dict[int, int]) -> list[pricing.QuoteLine]:
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=list(wanted)).select_related("product")}
    problems = {}
    for sku_id in wanted:
        sku = skus.get(sku_id)
        if sku is None or not sku.is_active or sku.product.status != ProductStatus.ON_SHELF:
            problems[str(sku_id)] = _("not on sale")
    if problems:
        raise NotOnSale(_("Some items are no longer on sale."), fields=problems)
    lines = []
    for n, (sku_id, quantity) in enumerate(wanted.items(), start=1):
        sku = skus[sku_id]
        product = sku.product
        lines.append(
            pricing.QuoteLine(
                line_no=n,
                sku_id=sku.pk,
                sku_code=sku.code,
                product_id=product.pk,
                category_id=product.category_id,
                brand_id=product.brand_id,
                title=product.title,
                spec_text=sku.spec_text,
                quantity=quantity,
                unit_price_fen=sku.price_fen,
                list_price_fen=sku.list_price_fen,
                cost_fen=sku.cost_fen,
                weight_g=sku.weight_g,
                fulfilment=sku.fulfilment,
                supplier_id=sku.supplier_id,
                per_customer_limit=product.per_customer_limit,
            )
        )
    return lines


def _check_limits(customer_id: int, lines: list[pricing.QuoteLine]) -> None:
    """Per-customer purchase limits count every unit bought before (cancelled orders and refunded
    units do not count) plus this order."""
    limits = {ln.product_id: ln.per_customer_limit for ln in lines if ln.per_customer_limit}
    if not limits:
        return
    wanted: dict[int, int] = {}
    titles: dict[int, str] = {}
    for ln in lines:
        if ln.product_id in limits:
            wanted[ln.product_id] = wanted.get(ln.product_id, 0) + ln.quantity
            titles[ln.product_id] = ln.title
    bought = dict(
        OrderLine.objects.filter(order__customer_id=customer_id, sku__product_id__in=list(limits))
        .exclude(order__status=OrderStatus.CANCELLED)
        .values("sku__product_id")
        .annotate(units=Sum(F("quantity") - F("refunded_quantity")))
        .values_list("sku__product_id", "units")
    )
    over = {
        str(pid): _("at most %(n)s per customer") % {"n": limits[pid]}
        for pid, qty in wanted.items()
        if (bought.get(pid) or 0) + qty > limits[pid]
    }
    if over:
        names = ", ".join(titles[int(p)] for p in over)
        raise PurchaseLimitExceeded(
            _("You have reached the purchase limit for %(names)s.") % {"names": names},
            fields=over,
        )


def _check_delivery(checkout: Checkout) -> int | None:
    """Validate address or pickup store; return the pickup store id."""
    if checkout.delivery_method not in DeliveryMethod.values:
        raise ValidationFailed(fields={"delivery_method": _("Choose delivery or store pickup.")})
    address = checkout.address
    errors = {}
    if address is None:
        raise ValidationFailed(
            _("Fill in who receives the order."), fields={"address": _("required")}
        )
    if not (address.name or "").strip():
        errors["address.name"] = _("This field is required.")
    if not crypto.normalize_phone(address.phone):
        errors["address.phone"] = _("Enter a mainland mobile number.")
    if checkout.delivery_method == DeliveryMethod.DELIVERY:
        for part in ("province", "city", "detail"):
            if not (getattr(address, part) or "").strip():
                errors[f"address.{part}"] = _("This field is required.")
        if errors:
            raise ValidationFailed(_("The delivery address is incomplete."), fields=errors)
        return None
    if errors:
        raise ValidationFailed(_("Fill in who picks the order up."), fields=errors)
    if (
        not checkout.store_id
        or not Location.objects.filter(
            store_id=checkout.store_id, is_pickup=True, is_active=True
        ).exists()
    ):
        raise ValidationFailed(
            _("Choose a store that offers pickup."), fields={"store_id": _("not a pickup store")}
        )
    return checkout.store_id


def build_quote(customer_id: int, checkout: Checkout) -> pricing.Quote:
    wanted = _merge_items(checkout.items)
    lines = _quote_lines(wanted)
    quote = pricing.Quote(
        customer_id=customer_id,
        channel=checkout.channel,
        delivery_method=checkout.delivery_method,
        store_id=checkout.store_id if checkout.delivery_method == DeliveryMethod.PICKUP else None,
        lines=lines,
        context=dict(checkout.context or {}),
    )
    return pricing.price(quote)


def quote(actor: Actor, checkout: Checkout, *, customer_id: int | None = None) -> pricing.Quote:
    """Price a checkout without placing it (the confirmation page). Flags items out of stock or
    over a purchase limit through the same errors placement would raise."""
    cid = _customer_for(actor, customer_id)
    result = build_quote(cid, checkout)
    _check_limits(cid, result.lines)
    stocked = _stocked_wanted(result.lines)
    if stocked:
        pickup = checkout.store_id if checkout.delivery_method == DeliveryMethod.PICKUP else None
        stock.plan(stocked, pickup_store_id=pickup)
    return result


def _stocked_wanted(lines: list[pricing.QuoteLine]) -> dict[int, int]:
    return {ln.sku_id: ln.quantity for ln in lines if ln.fulfilment == Fulfilment.STOCKED}


def fingerprint(customer_id: int, checkout: Checkout) -> str:
    """What makes two requests "the same order" for Idempotency-Key purposes."""
    address = checkout.address
    payload = {
        "customer": customer_id,
        "items": sorted(_merge_items(checkout.items).items()),
        "delivery": checkout.delivery_method,
        "store": checkout.store_id,
        "address": [
            address.name,
            address.phone,
            address.province,
            address.city,
            address.district,
            address.detail,
        ]
        if address
        else None,
        "context": checkout.context or {},
        "channel": checkout.channel,
    }
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def replayed_order(actor: Actor, key: str, digest: str, *, customer_id: int | None = None):
    """The order an Idempotency-Key already created for this customer, or None. Raises
    IdempotencyKeyReused when the key came with a different request (`digest`)."""
    cid = _customer_for(actor, customer_id)
    return _replay(cid, (key or "").strip()[:64], digest)


def _replay(customer_id: int, key: str, digest: str) -> Order | None:
    existing = Order.objects.filter(customer_id=customer_id, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != digest:
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was already used for a different order."),
            fields={"idempotency_key": key},
        )
    return existing


def place_order(
    actor: Actor,
    checkout: Checkout,
    *,
    idempotency_key: str = "",
    customer_id: int | None = None,
    request_fingerprint: str = "",
    replay_checked: bool = False,
) -> Placed:
    """Price the checkout on the server, reserve stock and create a pending-payment order.

    The same `idempotency_key` from the same customer returns the order it first created (a
    different request under the same key is refused). The order is cancelled and its stock
    released if it is not paid within SIYU_UNPAID_TIMEOUT_MINUTES. `request_fingerprint` lets
    the API compare requests as sent (a cart checkout's items are gone after the first success).
    `replay_checked`: the caller has just looked the key up with `replayed_order` and found
    nothing, so it is not looked up again (a request racing it is still caught by the unique
    constraint below).
    """
    cid = _customer_for(actor, customer_id)
    key = (idempotency_key or "").strip()[:64]
    digest = (request_fingerprint or fingerprint(cid, checkout)) if key else ""
    if key and not replay_checked and (existing := _replay(cid, key, digest)) is not None:
        return Placed(existing, created=False)

    customer = _active_customer(cid)
    pickup_store_id = _check_delivery(checkout)
    priced = build_quote(cid, checkout)
    _check_limits(cid, priced.lines)
    stocked = _stocked_wanted(priced.lines)
    plans = stock.plan(stocked, pickup_store_id=pickup_store_id) if stocked else {}
    credit = attribution.resolve(customer, channel=checkout.channel, hints=checkout.hints)

    for attempt in range(3):
        try:
            order, related = _insert(
                actor, customer, checkout, priced, plans, credit, key, digest, pickup_store_id
            )
            return Placed(order, created=True, related=related)
        except IntegrityError:
            if key and (existing := _replay(cid, key, digest)) is not None:
                return Placed(existing, created=False)
            if attempt == 2:
                raise
            log.warning("order number clash; retrying placement")
    raise AssertionError("unreachable")


def _insert(
    actor: Actor,
    customer: Customer,
    checkout: Checkout,
    priced: pricing.Quote,
    plans: dict[int, list[int]],
    credit: attribution.Attribution,
    key: str,
    digest: str,
    pickup_store_id: int | None,
) -> tuple[Order, OrderRelated]:
    now = timezone.now()
    deadline = now + timedelta(minutes=settings.SIYU_UNPAID_TIMEOUT_MINUTES)
    if checkout.pay_before is not None:
        deadline = max(now, min(deadline, checkout.pay_before))
    address = checkout.address
    limited = any(ln.per_customer_limit for ln in priced.lines)
    with transaction.atomic():
        if limited:
            # one customer's concurrent orders queue here, so a limit cannot be beaten by racing
            Customer.objects.select_for_update().filter(pk=customer.pk).exists()
            _check_limits(customer.pk, priced.lines)
        order = Order.objects.create(
            number=new_number(),
            customer_id=customer.pk,
            channel=credit.channel,
            status=OrderStatus.PENDING_PAYMENT,
            goods_amount_fen=priced.goods_fen,
            discount_fen=priced.discount_fen,
            shipping_fen=priced.shipping_fen,
            payable_fen=priced.payable_fen,
            cost_fen=priced.cost_fen,
            placed_at=now,
            payment_deadline=deadline,
            fulfilment_hold=(checkout.fulfilment_hold or "")[:64],
            receiver_name=(address.name or "").strip() if address else "",
            receiver_phone=crypto.normalize_phone(address.phone) or "" if address else "",
            receiver_address=(address.detail or "").strip() if address else "",
            receiver_province=(address.province or "").strip()[:30] if address else "",
            receiver_city=(address.city or "").strip()[:30] if address else "",
            receiver_district=(address.district or "").strip()[:30] if address else "",
            delivery_method=checkout.delivery_method,
            store_id=pickup_store_id or credit.store_id,
            credited_kind=credit.credited_kind,
            credited_id=credit.credited_id,
            credited_user_id=credit.credited_user_id,
            buyer_note=(checkout.buyer_note or "").strip()[:500],
            idempotency_key=key,
            request_fingerprint=digest,
            created_at=now,
        )
        lines = OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    line_no=ln.line_no,
                    product_title=ln.title[:255],
                    spec_text=ln.spec_text[:255],
                    external_sku=ln.sku_code,
                    quantity=ln.quantity,
                    unit_price_fen=ln.unit_price_fen,
                    amount_fen=ln.amount_fen,
                    discount_fen=ln.discount_fen,
                    cost_fen=ln.cost_total_fen,
                    sku_id=ln.sku_id,
                    list_price_fen=ln.list_price_fen,
                    fulfilment=ln.fulfilment,
                    supplier_id=ln.supplier_id,
                    location_id=plans[ln.sku_id][0] if ln.sku_id in plans else None,
                )
                for ln in priced.lines
            ]
        )
        adjustments = []
        if priced.applied:
            by_no = {line.line_no: line for line in lines}
            adjustments = OrderAdjustment.objects.bulk_create(
                [
                    OrderAdjustment(
                        order=order,
                        line=by_no.get(a.line_no),
                        code=a.code,
                        label=a.label[:120],
                        amount_fen=a.amount_fen,
                        ref=a.ref[:64],
                    )
                    for a in priced.applied
                ]
            )
            pricing.commit(priced, order.pk)
        placed = OrderStatusChange.objects.create(
            order=order,
            from_status="",
            to_status=OrderStatus.PENDING_PAYMENT,
            actor_kind=actor.kind,
            actor_id=actor.customer_id if actor.kind == "customer" else actor.user_id,
            actor_label=actor.label[:150],
            note=_("Order placed"),
            created_at=now,
        )
        schedule_unpaid_timeout(order)
        if checkout.from_cart:
            CartItem.objects.filter(
                customer_id=customer.pk, sku_id__in=[ln.sku_id for ln in priced.lines]
            ).delete()
        events.publish(OrderPlaced(order.pk, customer.pk, order.channel))
        # Last: the conditional UPDATEs lock the (possibly hot) stock rows until COMMIT.
        if plans:
            chosen = stock.reserve(
                [
                    (
                        stock.StockChange(
                            ln.sku_id,
                            0,
                            ln.quantity,
                            key=f"reserve:{order.pk}:{ln.line_no}",
                            order_id=order.pk,
                        ),
                        plans[ln.sku_id],
                    )
                    for ln in priced.lines
                    if ln.sku_id in plans
                ],
                actor_label=actor.label,
            )
            for line in lines:
                picked = chosen.get(f"reserve:{order.pk}:{line.line_no}")
                if picked is not None and picked != line.location_id:
                    OrderLine.objects.filter(pk=line.pk).update(location_id=picked)
                    line.location_id = picked
    return order, OrderRelated(lines=lines, history=[placed], adjustments=adjustments)
