"""Marketing reacts to orders: a cancelled or timed-out order gives its coupon and flash-sale
units back; a fully refunded order gives its coupon back when the coupon's rule says so; a paid
order turns its flash-sale hold into a sale. All in the orders transaction (in_transaction), so
the order and the promotion never disagree."""

from __future__ import annotations

from siyu.core import events
from siyu.core.access import Actor
from siyu.orders.events import OrderCancelled, OrderLineRefunded, OrderPaid

from . import flash, pricing, services

pricing.register()


@events.subscribe(OrderCancelled, in_transaction=True)
def give_coupon_back(event: OrderCancelled) -> None:
    services.give_back(event.order_id, reason="cancelled", actor=Actor.system("order-cancelled"))


@events.subscribe(OrderCancelled, in_transaction=True)
def give_flash_sale_units_back(event: OrderCancelled) -> None:
    flash.give_back(event.order_id)


@events.subscribe(OrderPaid, in_transaction=True)
def flash_sale_units_sold(event: OrderPaid) -> None:
    flash.mark_paid(event.order_id)


@events.subscribe(OrderLineRefunded, in_transaction=True)
def give_coupon_back_on_refund(event: OrderLineRefunded) -> None:
    services.return_if_fully_refunded(event.order_id)
