"""Payment and cancellation: the two ways a pending order ends.

`mark_paid` is called by the payments app (through the PaymentSucceeded subscriber in
orders/handlers.py) inside its own transaction. Its contract:

* pending_payment and the amount equals `payable_fen` → the order becomes paid; OrderPaid is
  published; drop-ship lines become supplier purchase orders.
* the same payment reported again (same payment_id) → nothing changes, the order is returned.
* cancelled (by the shopper, staff, or the unpaid timeout), refunded, closed, or already paid by a
  different payment → `OrderNotPayable` (code `order_not_payable`); nothing is written. The
  payments app refunds that payment automatically. A cancelled order never becomes paid: its
  stock may already have been sold to someone else.
* a different amount → `PaymentAmountMismatch` (a subclass of OrderNotPayable with the same code
  `order_not_payable` and `fields["reason"] == "amount_mismatch"`), also refunded by payments.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog import stock
from siyu.core import events
from siyu.core.access import Actor
from siyu.core.errors import Conflict

from ..errors import OrderNotPayable, PaymentAmountMismatch
from ..events import OrderCancelled, OrderPaid
from ..models import Order, OrderLine, OrderStatus
from ..states import transition_order
from .common import check_order_access, lock_order

log = logging.getLogger(__name__)


def mark_paid(
    order_id: int,
    *,
    amount_fen: int,
    payment_id: int,
    transaction_id: str = "",
    actor: Actor | None = None,
    paid_at: datetime | None = None,
) -> Order:
    """Record a confirmed payment (see the module docstring for the contract)."""
    actor = actor or Actor.system("payments")
    with transaction.atomic():
        order = lock_order(order_id)
        if order.status != OrderStatus.PENDING_PAYMENT:
            if order.payment_id is not None and order.payment_id == payment_id:
                return order  # the same payment reported twice
            if order.status == OrderStatus.CANCELLED:
                raise OrderNotPayable(
                    _("Order %(number)s was cancelled before the payment arrived.")
                    % {"number": order.number},
                    fields={"reason": "cancelled", "status": order.status},
                )
            raise OrderNotPayable(
                _("Order %(number)s is %(status)s and cannot take another payment.")
                % {"number": order.number, "status": order.get_status_display()},
                fields={"reason": "not_pending", "status": order.status},
            )
        if amount_fen != order.payable_fen:
            raise PaymentAmountMismatch(
                _("Paid %(paid)s fen but order %(number)s asks for %(payable)s fen.")
                % {"paid": amount_fen, "number": order.number, "payable": order.payable_fen},
                fields={"reason": "amount_mismatch", "amount_fen": str(amount_fen)},
            )
        order.paid_fen = amount_fen
        order.paid_at = paid_at or timezone.now()
        order.payment_id = payment_id
        order.transaction_id = (transaction_id or "")[:64]
        fields = ["paid_fen", "paid_at", "payment_id", "transaction_id"]
        if order.is_pickup:
            order.pickup_code = f"{secrets.randbelow(10**6):06d}"
            fields.append("pickup_code")
        transition_order(
            order, OrderStatus.PAID, actor=actor, note=transaction_id, update_fields=tuple(fields)
        )
        OrderLine.objects.filter(order_id=order.pk).update(
            paid_fen=F("amount_fen") - F("discount_fen")
        )
        if not order.fulfilment_hold:  # a held order's suppliers hear of it on release
            from .fulfilment import create_purchase_orders

            create_purchase_orders(order, actor=actor)
        events.publish(OrderPaid(order.pk, order.customer_id, amount_fen))
    return order


def cancel_order(order_id: int, *, actor: Actor, reason: str = "") -> Order:
    """Cancel an unpaid order and give its reserved stock back.

    Shoppers cancel their own orders; staff need `orders.cancel`. A paid order cannot be
    cancelled: it is refunded through after-sales instead.
    """
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.cancel")
        if order.status != OrderStatus.PENDING_PAYMENT:
            raise Conflict(
                _("Only an unpaid order can be cancelled; ask for a refund instead."),
                code="not_cancellable",
                fields={"status": order.status},
            )
        _cancel(order, actor=actor, reason=reason or _("Cancelled"))
    return order


def expire_order(order_id: int, *, now: datetime | None = None) -> bool:
    """Cancel one order whose payment deadline has passed. Idempotent: an order already paid or
    cancelled, or not yet due, is left alone. Returns True when it cancelled the order."""
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status != OrderStatus.PENDING_PAYMENT:
            return False
        if order.payment_deadline is None or order.payment_deadline > now:
            return False
        _cancel(order, actor=Actor.system("unpaid-timeout"), reason=_("Not paid in time"))
    return True


def _cancel(order: Order, *, actor: Actor, reason: str) -> None:
    lines = list(order.lines.all())
    transition_order(order, OrderStatus.CANCELLED, actor=actor, note=reason)
    to_release = [
        stock.StockChange(
            line.sku_id,
            line.location_id,
            line.to_ship,
            key=f"release:{order.pk}:{line.line_no}",
            order_id=order.pk,
            note=reason,
        )
        for line in lines
        if line.location_id is not None and line.to_ship > 0
    ]
    stock.release(to_release, actor_label=actor.label)
    # nothing of an unpaid order has shipped: every unit goes back
    OrderLine.objects.filter(order_id=order.pk).update(
        released_quantity=F("quantity") - F("shipped_quantity")
    )
    events.publish(OrderCancelled(order.pk, order.customer_id, reason))
