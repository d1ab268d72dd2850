"""Orders' subscribers to other apps' events.

Orders follow the customers they belong to.

In-transaction subscribers: an order must never point at a merged tombstone, nor keep a receiver's
name, phone or address after that person's erasure, not even for a moment. Payments drive orders
to paid and refunded (the contract is in docs/commerce.md).
"""

from __future__ import annotations

from siyu.core.access import Actor
from siyu.core.events import subscribe
from siyu.customers.events import CustomerErased, CustomersMerged
from siyu.payments.events import PaymentSucceeded, RefundFailed, RefundSucceeded

from .models import CartItem, Order


@subscribe(CustomersMerged, in_transaction=True)
def move_orders_to_survivor(event: CustomersMerged) -> None:
    Order.objects.filter(customer_id=event.merged_id).update(customer_id=event.survivor_id)


@subscribe(CustomerErased, in_transaction=True)
def blank_receivers_of_erased_customer(event: CustomerErased) -> None:
    """Amounts, items and dates stay (the books need them); who received the parcel does not."""
    Order.objects.filter(customer_id=event.customer_id).update(
        receiver_name="", receiver_phone="", receiver_address="", buyer_note=""
    )


@subscribe(CustomersMerged, in_transaction=True)
def move_cart_to_survivor(event: CustomersMerged) -> None:
    """The survivor keeps their own cart lines; SKUs only the merged record had move over."""
    kept = CartItem.objects.filter(customer_id=event.survivor_id).values("sku_id")
    CartItem.objects.filter(customer_id=event.merged_id, sku_id__in=kept).delete()
    CartItem.objects.filter(customer_id=event.merged_id).update(customer_id=event.survivor_id)


@subscribe(CustomerErased, in_transaction=True)
def empty_cart_of_erased_customer(event: CustomerErased) -> None:
    CartItem.objects.filter(customer_id=event.customer_id).delete()


# --- payments ---------------------------------------------------------------------------------


@subscribe(PaymentSucceeded, in_transaction=True)
def order_paid(event: PaymentSucceeded) -> None:
    """Money arrived: the order becomes paid in the payment's own transaction. Raises
    OrderNotPayable for a cancelled/expired/already-paid order; payments then refunds it."""
    from .services import mark_paid

    mark_paid(
        event.order_id,
        amount_fen=event.amount_fen,
        payment_id=event.payment_id,
        transaction_id=event.transaction_id,
        actor=Actor.system("payments"),
    )


@subscribe(RefundSucceeded, in_transaction=True)
def refund_done(event: RefundSucceeded) -> None:
    from .services import complete_refund

    complete_refund(event.order_id, event.refund_key, event.amount_fen)


@subscribe(RefundFailed, in_transaction=True)
def refund_failed(event: RefundFailed) -> None:
    from .services import fail_refund

    fail_refund(event.order_id, event.refund_key, event.reason)
