"""Membership follows orders and the customer pool: points, cards and referrals move atomically
with the payment, completion, refund or merge that caused them (in-transaction subscribers);
delivering a card-only order runs after the payment commits."""

from __future__ import annotations

import logging

from siyu.core.events import subscribe
from siyu.customers.events import CustomerErased, CustomersMerged
from siyu.orders import attribution
from siyu.orders.events import (
    OrderCancelled,
    OrderClosed,
    OrderCompleted,
    OrderLineRefunded,
    OrderPaid,
)

from . import pricing
from .services import cards, points, referrals, tiers

log = logging.getLogger(__name__)

pricing.register()


@subscribe(OrderPaid, in_transaction=True)
def on_paid(event: OrderPaid) -> None:
    cards.activate_for_order(event.order_id)
    cards.record_benefit_use(event.order_id)
    referrals.note_paid_order(event.order_id, event.customer_id)


@subscribe(OrderPaid)
def deliver_cards(event: OrderPaid) -> None:
    cards.deliver_if_only_cards(event.order_id)


@subscribe(OrderCompleted, in_transaction=True)
def on_completed(event: OrderCompleted) -> None:
    points.earn_for_order(event.order_id)
    tiers.evaluate(event.customer_id, upgrade_only=True)


@subscribe(OrderClosed, in_transaction=True)
def on_closed(event: OrderClosed) -> None:
    referrals.reward_for_order(event.order_id)


@subscribe(OrderCancelled, in_transaction=True)
def on_cancelled(event: OrderCancelled) -> None:
    points.return_for_cancelled_order(event.order_id)


@subscribe(OrderLineRefunded, in_transaction=True)
def on_line_refunded(event: OrderLineRefunded) -> None:
    points.apply_line_refund(event.line_id, event.amount_fen, event.refund_key)
    cards.end_cards_for_refund(event.line_id)
    referrals.note_refund(event.order_id)


@subscribe(CustomersMerged, in_transaction=True)
def follow_merge(event: CustomersMerged) -> None:
    points.move_customer(event.merged_id, event.survivor_id)
    tiers.move_customer(event.merged_id, event.survivor_id)
    cards.move_customer(event.merged_id, event.survivor_id)
    referrals.move_customer(event.merged_id, event.survivor_id)


@subscribe(CustomerErased, in_transaction=True)
def forget_erased_customer(event: CustomerErased) -> None:
    tiers.forget_customer(event.customer_id)
    referrals.forget_customer(event.customer_id)


@attribution.register
def referral_from_checkout(customer, channel: str, hints: dict):
    """A shopper who arrived through a member's code (`?inv=CODE`, kept by the mall's session)
    is recorded as that member's friend when they check out; the sale's attribution is left to
    the other resolvers (this returns None)."""
    code = hints.get("inv")
    if code:
        referrals.record(customer.pk, str(code)[:12], via="share")
    return None
