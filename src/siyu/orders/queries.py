"""Read-only views of orders for other apps (customers pages, payments, analytics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from siyu.core.errors import NotFound

from .models import AfterSale, Order, OrderLine, OrderStatus


@dataclass(frozen=True)
class PayableOrder:
    order_id: int
    number: str
    customer_id: int
    status: str
    payable_fen: int
    paid_fen: int
    description: str
    # WeChat Pay's time_expire: after this the order is cancelled and must not take money.
    payment_deadline: datetime | None = None

    @property
    def is_payable(self) -> bool:
        return self.status == OrderStatus.PENDING_PAYMENT


def payable_order(order_id: int) -> PayableOrder:
    """What a payment provider needs to collect money for an order (one query: the first line's
    title, the payment description, comes along as a subquery)."""
    first_title = (
        OrderLine.objects.filter(order_id=OuterRef("pk"))
        .order_by("line_no")
        .values("product_title")[:1]
    )
    row = (
        Order.objects.filter(pk=order_id)
        .annotate(first_title=Subquery(first_title))
        .values(
            "pk",
            "number",
            "customer_id",
            "status",
            "payable_fen",
            "paid_fen",
            "payment_deadline",
            "first_title",
        )
        .first()
    )
    if row is None:
        raise NotFound(_("Not found."))
    description = row["first_title"] or row["number"]
    return PayableOrder(
        order_id=row["pk"],
        number=row["number"],
        customer_id=row["customer_id"],
        status=row["status"],
        payable_fen=row["payable_fen"],
        paid_fen=row["paid_fen"],
        description=description[:127],
        payment_deadline=row["payment_deadline"],
    )


def order_ids_awaiting_payment(placed_before: datetime, limit: int = 1000) -> list[int]:
    """Unpaid orders placed before a time, oldest first (payment reconciliation asks the provider
    about these when a notification never came)."""
    return list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, placed_at__lt=placed_before)
        .order_by("placed_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class RefundInfo:
    order_id: int
    refund_key: str
    amount_fen: int
    status: str  # an AfterSaleStatus: refunding, refund_failed, refunded...
    reason: str


def refund_info(refund_key: str) -> RefundInfo:
    """The refund behind a refund_key (out_refund_no), for payments' reconciliation."""
    case = AfterSale.objects.filter(refund_key=refund_key).first()
    if case is None:
        raise NotFound(_("Not found."))
    return RefundInfo(
        order_id=case.order_id,
        refund_key=case.refund_key,
        amount_fen=case.amount_fen,
        status=case.status,
        reason=case.get_reason_display(),
    )


def order_for_customer(order_id: int, customer_id: int) -> Order:
    """One of a customer's orders, or NotFound (another customer's order looks absent)."""
    order = (
        Order.objects.filter(pk=order_id, customer_id=customer_id)
        .prefetch_related("lines", "history")
        .first()
    )
    if order is None:
        raise NotFound(_("Not found."))
    return order


def orders_for_customer(customer_id: int, limit: int = 20):
    """A customer's latest orders with their lines, newest first."""
    return (
        Order.objects.filter(customer_id=customer_id)
        .prefetch_related("lines")
        .order_by("-placed_at", "-id")[:limit]
    )
