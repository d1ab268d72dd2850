"""Distribution follows other apps' events inside their transactions: a commission is credited,
frozen or reversed atomically with the payment, completion or refund that caused it, and referrals
follow customers through merges and erasures."""

from __future__ import annotations

from siyu.core.events import subscribe
from siyu.customers.events import CustomerErased, CustomersMerged
from siyu.orders.events import OrderCompleted, OrderLineRefunded, OrderPaid

from . import attribution as _attribution  # noqa: F401  (registers the checkout resolver)
from . import services


@subscribe(OrderPaid, in_transaction=True)
def credit_commissions(event: OrderPaid) -> None:
    services.credit_order(event.order_id)


@subscribe(OrderCompleted, in_transaction=True)
def freeze_commissions(event: OrderCompleted) -> None:
    services.freeze_order(event.order_id)


@subscribe(OrderLineRefunded, in_transaction=True)
def reverse_or_claw_back(event: OrderLineRefunded) -> None:
    services.apply_line_refund(event.line_id, event.amount_fen, event.refund_key)


@subscribe(CustomersMerged, in_transaction=True)
def follow_merge(event: CustomersMerged) -> None:
    services.move_customer(event.merged_id, event.survivor_id)


@subscribe(CustomerErased, in_transaction=True)
def forget_erased_customer(event: CustomerErased) -> None:
    services.forget_customer(event.customer_id)
