"""Group buying's subscribers to orders' events (see the lock order in services.py)."""

from __future__ import annotations

from siyu.core.events import subscribe
from siyu.orders.events import OrderCancelled, OrderLineRefunded, OrderPaid, RefundRequested

from . import pricing  # noqa: F401  (registers the group price)


@subscribe(OrderPaid, in_transaction=True)
def member_paid(event: OrderPaid) -> None:
    """In the payment's transaction: raising OrderNotPayable here makes payments refund it."""
    from .services import order_paid

    order_paid(event.order_id, event.paid_fen)


@subscribe(OrderCancelled)
def member_order_cancelled(event: OrderCancelled) -> None:
    """After the cancellation commits (its transaction holds stock rows, a join holds the group
    and waits for stock: doing this inside would risk a deadlock). The sweep backs it up."""
    from .services import order_cancelled

    order_cancelled(event.order_id)


@subscribe(RefundRequested, in_transaction=True)
def member_refund_requested(event: RefundRequested) -> None:
    from .services import refund_requested

    refund_requested(event.order_id, event.refund_key, event.amount_fen)


@subscribe(OrderLineRefunded, in_transaction=True)
def member_refunded(event: OrderLineRefunded) -> None:
    from .services import refund_confirmed

    refund_confirmed(event.order_id, event.refund_key)
