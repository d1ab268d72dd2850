"""Events the orders app publishes. Other apps subscribe; they never write orders' tables.

Ids and figures only (no model instances), so subscribers re-read what they need under their own
locks. Amounts are fen. Published inside the transaction that made the change: in-transaction
subscribers (ledger postings, group-buy counters) commit or roll back with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


@dataclass(frozen=True)
class OrderEvent(DomainEvent):
    order_id: int
    customer_id: int


@dataclass(frozen=True)
class OrderPlaced(OrderEvent):
    channel: str


@dataclass(frozen=True)
class OrderPaid(OrderEvent):
    paid_fen: int


@dataclass(frozen=True)
class AfterSaleRequested(OrderEvent):
    """A shopper (or staff on their behalf) opened an after-sales case; operators are notified."""

    after_sale_id: int
    amount_fen: int


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    reason: str = ""


@dataclass(frozen=True)
class OrderShipped(OrderEvent):
    fully: bool = True


@dataclass(frozen=True)
class OrderDelivered(OrderEvent):
    """The goods reached the shopper (carrier delivery, or collected at the pickup store)."""


@dataclass(frozen=True)
class OrderCompleted(OrderEvent):
    """The shopper confirmed receipt (or the confirmation period ran out)."""


@dataclass(frozen=True)
class OrderClosed(OrderEvent):
    """The after-sales window ended: no more refunds, so commissions and points may settle."""


@dataclass(frozen=True)
class RefundRequested(OrderEvent):
    """An approved refund the payment provider must now carry out.

    `refund_key` is stable for this refund (it becomes WeChat Pay's out_refund_no), so a retried
    request never refunds twice.
    """

    refund_key: str
    amount_fen: int
    reason: str = ""


@dataclass(frozen=True)
class OrderLineRefunded(OrderEvent):
    """Money went back to the shopper for (part of) a line: commissions, points and coupons react."""

    line_id: int
    amount_fen: int
    quantity: int
    refund_key: str


@dataclass(frozen=True)
class OrdersImported(DomainEvent):
    """A batch of platform orders was imported (scores and segments may refresh)."""

    job_id: int
    orders_created: int
    orders_updated: int
