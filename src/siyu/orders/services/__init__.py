"""Order services: every change to an order goes through one of these functions.

Other apps import from here (`from siyu.orders import services`), never the submodules' private
helpers.
"""

from .aftersales import (
    after_sales_for_staff,
    approve_after_sale,
    claimable,
    complete_refund,
    fail_refund,
    receive_return,
    refund_order,
    reject_after_sale,
    request_after_sale,
    retry_refund,
    submit_return_tracking,
    withdraw_after_sale,
)
from .cart import (
    add_to_cart,
    cart_lines,
    cart_size,
    remove_from_cart,
    select_cart_items,
    selected_items,
    set_cart_quantity,
)
from .checkout import Address, Checkout, Placed, place_order, quote, replayed_order
from .common import check_order_access, orders_visible_to, visible_order
from .fulfilment import (
    auto_confirm_due,
    close_due,
    confirm_receipt,
    export_purchase_orders,
    hand_over_pickup,
    import_tracking,
    mark_delivered,
    purchase_orders_for_staff,
    release_fulfilment_hold,
    ship,
    ship_purchase_order,
    shippable_quantities,
)
from .listing import OrderFilters, filter_orders
from .payment import cancel_order, expire_order, mark_paid

__all__ = [
    "Address",
    "Checkout",
    "OrderFilters",
    "Placed",
    "add_to_cart",
    "after_sales_for_staff",
    "approve_after_sale",
    "auto_confirm_due",
    "cancel_order",
    "cart_lines",
    "cart_size",
    "check_order_access",
    "claimable",
    "close_due",
    "complete_refund",
    "confirm_receipt",
    "expire_order",
    "export_purchase_orders",
    "fail_refund",
    "filter_orders",
    "hand_over_pickup",
    "import_tracking",
    "mark_delivered",
    "mark_paid",
    "orders_visible_to",
    "place_order",
    "purchase_orders_for_staff",
    "quote",
    "receive_return",
    "refund_order",
    "release_fulfilment_hold",
    "reject_after_sale",
    "remove_from_cart",
    "replayed_order",
    "request_after_sale",
    "retry_refund",
    "select_cart_items",
    "selected_items",
    "set_cart_quantity",
    "ship",
    "ship_purchase_order",
    "shippable_quantities",
    "submit_return_tracking",
    "visible_order",
    "withdraw_after_sale",
]
