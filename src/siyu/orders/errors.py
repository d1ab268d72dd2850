"""Domain errors of the orders app (codes are part of the API and of the payments contract)."""

from __future__ import annotations

from siyu.catalog.stock import OutOfStock
from siyu.core.errors import Conflict

__all__ = [
    "IdempotencyKeyReused",
    "NotOnSale",
    "OrderNotPayable",
    "OutOfStock",
    "PaymentAmountMismatch",
    "PurchaseLimitExceeded",
    "RefundMismatch",
]


class OrderNotPayable(Conflict):
    """This order can no longer be paid (cancelled, expired, or already paid by another payment).

    Raised by `mark_paid`; the payments app answers it by refunding the payment automatically.
    """

    code = "order_not_payable"


class PaymentAmountMismatch(OrderNotPayable):
    """The amount paid is not the amount payable for this order.

    Keeps the code `order_not_payable` (payments refunds on that code); `fields["reason"]` says
    `amount_mismatch`.
    """


class NotOnSale(Conflict):
    """A product in the order is not on sale."""

    code = "not_on_sale"


class PurchaseLimitExceeded(Conflict):
    """This would exceed the most a customer may buy of this product."""

    code = "purchase_limit_exceeded"


class IdempotencyKeyReused(Conflict):
    """This Idempotency-Key was already used for a different order request."""

    code = "idempotency_key_reused"


class RefundMismatch(Conflict):
    """A refund confirmation does not match the refund that was requested."""

    code = "refund_mismatch"
