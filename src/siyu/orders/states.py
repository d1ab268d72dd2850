"""The order, after-sales and purchase-order state machines: transition tables and the one
function per machine that applies them (checks the table, saves, appends history).

Order lifecycle::

    pending_payment ──paid──▶ paid ──▶ partially_shipped ──▶ shipped ──▶ delivered ──▶ completed ──▶ closed
          │                    │              │                 │            │             │
          └──▶ cancelled       └──────────────┴────── refunded ◀┴────────────┴─────────────┘

* cancelled: never paid (shopper or staff cancelled it, or the payment deadline passed).
* refunded: every fen paid went back (after-sales or a failed group buy).
* closed: completed and the after-sales window has ended; nothing more can be refunded.
* A pickup order goes paid → delivered when the shopper collects it.
"""

from __future__ import annotations

from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.states import transition

from .models import (
    AfterSale,
    AfterSaleStatus,
    AfterSaleStatusChange,
    Order,
    OrderStatus,
    OrderStatusChange,
    PurchaseOrder,
    PurchaseOrderStatus,
    PurchaseOrderStatusChange,
)

S = OrderStatus

ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.REFUNDED}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED, S.REFUNDED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.COMPLETED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUNDED}),
    S.COMPLETED: frozenset({S.CLOSED, S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
    S.CLOSED: frozenset(),
}

# Statuses in which a shopper may still ask for money back.
AFTER_SALES_OPEN = frozenset({S.PAID, S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.COMPLETED})
# Statuses in which goods may still leave the warehouse.
SHIPPABLE = frozenset({S.PAID, S.PARTIALLY_SHIPPED})

# When each status is reached, this timestamp is set.
_STAMPS = {
    S.PAID: "paid_at",
    S.SHIPPED: "shipped_at",
    S.DELIVERED: "delivered_at",
    S.COMPLETED: "completed_at",
    S.CANCELLED: "cancelled_at",
    S.CLOSED: "closed_at",
    S.REFUNDED: "closed_at",
}


def transition_order(
    order: Order, target: str, *, actor: Actor, note: str = "", update_fields: tuple = ()
) -> OrderStatusChange:
    """Move a (locked) order to `target`, stamping the matching time, and record it."""
    now = timezone.now()
    stamp = _STAMPS.get(target)
    fields = list(update_fields)
    if stamp and getattr(order, stamp) is None:
        setattr(order, stamp, now)
        fields.append(stamp)
    if target == S.PARTIALLY_SHIPPED and order.shipped_at is None:
        order.shipped_at = now
        fields.append("shipped_at")
    return transition(
        order,
        target,
        table=ORDER_TRANSITIONS,
        history=OrderStatusChange,
        subject_field="order",
        actor=actor,
        note=note,
        update_fields=(*dict.fromkeys(fields), "updated_at"),
        at=now,
    )


A = AfterSaleStatus

AFTER_SALE_TRANSITIONS: dict[str, frozenset[str]] = {
    A.REQUESTED: frozenset({A.AWAITING_RETURN, A.REFUNDING, A.REJECTED, A.WITHDRAWN}),
    A.AWAITING_RETURN: frozenset({A.RETURN_SHIPPED, A.REFUNDING, A.WITHDRAWN, A.REJECTED}),
    A.RETURN_SHIPPED: frozenset({A.REFUNDING, A.REJECTED}),
    A.REFUNDING: frozenset({A.REFUNDED, A.REFUND_FAILED}),
    A.REFUND_FAILED: frozenset({A.REFUNDING, A.REFUNDED}),
    A.REFUNDED: frozenset(),
    A.REJECTED: frozenset(),
    A.WITHDRAWN: frozenset(),
}

# Cases that still hold units of a line (a new request cannot claim them again).
AFTER_SALE_ACTIVE = frozenset(
    {A.REQUESTED, A.AWAITING_RETURN, A.RETURN_SHIPPED, A.REFUNDING, A.REFUND_FAILED, A.REFUNDED}
)
# Cases an operator still has to act on.
AFTER_SALE_OPEN = frozenset(
    {A.REQUESTED, A.AWAITING_RETURN, A.RETURN_SHIPPED, A.REFUNDING, A.REFUND_FAILED}
)


def transition_after_sale(
    case: AfterSale, target: str, *, actor: Actor, note: str = "", update_fields: tuple = ()
) -> AfterSaleStatusChange:
    return transition(
        case,
        target,
        table=AFTER_SALE_TRANSITIONS,
        history=AfterSaleStatusChange,
        subject_field="after_sale",
        actor=actor,
        note=note,
        update_fields=(*update_fields, "updated_at"),
    )


P = PurchaseOrderStatus

PURCHASE_ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    P.PENDING: frozenset({P.SENT, P.SHIPPED, P.CANCELLED}),
    P.SENT: frozenset({P.SHIPPED, P.CANCELLED}),
    P.SHIPPED: frozenset(),
    P.CANCELLED: frozenset(),
}


def transition_purchase_order(
    po: PurchaseOrder, target: str, *, actor: Actor, note: str = "", update_fields: tuple = ()
) -> PurchaseOrderStatusChange:
    return transition(
        po,
        target,
        table=PURCHASE_ORDER_TRANSITIONS,
        history=PurchaseOrderStatusChange,
        subject_field="purchase_order",
        actor=actor,
        note=note,
        update_fields=update_fields,
    )
