"""Payments' subscriptions to orders' events."""

from __future__ import annotations

from siyu.core import events
from siyu.customers.events import CustomersMerged
from siyu.customers.personal_data import export_section
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


@events.subscribe(CustomersMerged, in_transaction=True)
def move_payments_to_survivor(event: CustomersMerged) -> None:
    """Payments follow their orders to the surviving customer record."""
    from .models import Payment

    Payment.objects.filter(customer_id=event.merged_id).update(customer_id=event.survivor_id)


@export_section("payments")
def payments(customer_ids: list[int]) -> list[dict]:
    """What the shopper paid and was refunded, as the provider recorded it. The payer's openid is
    never stored, so there is nothing to erase here: amounts stay for the books."""
    from .models import Payment

    rows = (
        Payment.objects.filter(customer_id__in=customer_ids)
        .select_related("order")
        .prefetch_related("refunds")
        .order_by("pk")
    )
    return [
        {
            "out_trade_no": p.out_trade_no,
            "order_number": p.order.number,
            "provider": p.provider,
            "method": p.method,
            "status": p.status,
            "amount_fen": p.amount_fen,
            "transaction_id": p.transaction_id,
            "created_at": p.created_at.isoformat(),
            "refunds": [
                {"out_refund_no": r.out_refund_no, "amount_fen": r.amount_fen, "status": r.status}
                for r in p.refunds.all()
            ],
        }
        for p in rows
    ]
