"""Events the payments app publishes; orders (and group buying) subscribe."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


@dataclass(frozen=True)
class PaymentSucceeded(DomainEvent):
    """The provider confirmed money for an order (deduplicated: published once per payment)."""

    order_id: int
    payment_id: int
    amount_fen: int
    transaction_id: str


@dataclass(frozen=True)
class RefundSucceeded(DomainEvent):
    """The provider confirmed a refund (published once per refund_key)."""

    order_id: int
    refund_key: str
    amount_fen: int


@dataclass(frozen=True)
class RefundFailed(DomainEvent):
    order_id: int
    refund_key: str
    reason: str
