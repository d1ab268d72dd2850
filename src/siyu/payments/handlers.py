"""Payments' subscriptions to orders' events."""

from __future__ import annotations

from siyu.core import events
from siyu.orders.events import OrderCancelled, RefundRequested


@events.subscribe(RefundRequested, in_transaction=True)
def open_refund(event: RefundRequested) -> None:
    """In orders' transaction: the refund row exists exactly when the approval does."""
    from .services import open_order_refund, system_actor

    open_order_refund(
        event.order_id,
        event.refund_key,
        event.amount_fen,
        event.reason,
        actor=system_actor("refund requested"),
    )


@events.subscribe(OrderCancelled)
def close_open_attempts(event: OrderCancelled) -> None:
    """After the cancellation commits: stop the shopper paying an order that no longer exists."""
    from .models import Payment
    from .states import PaymentStatus
    from .tasks import close_order_payments_task, enqueue

    if Payment.objects.filter(
        order_id=event.order_id, status__in=[PaymentStatus.PENDING, PaymentStatus.FAILED]
    ).exists():
        enqueue(close_order_payments_task, event.order_id)
