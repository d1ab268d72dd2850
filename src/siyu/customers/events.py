"""Events the customers app publishes. Ids only: subscribers re-read what they need.

Published inside the transaction that made the change, so in-transaction subscribers (orders
re-pointed on a merge, receivers blanked on an erasure) commit or roll back with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


@dataclass(frozen=True)
class CustomerCreated(DomainEvent):
    customer_id: int
    source: str


@dataclass(frozen=True)
class CustomersMerged(DomainEvent):
    """`merged_id` is now a tombstone pointing at `survivor_id`: move whatever you keep per customer
    (orders, points, commissions, coupons) to the survivor."""

    survivor_id: int
    merged_id: int


@dataclass(frozen=True)
class CustomerErased(DomainEvent):
    """A PIPL erasure request was carried out: remove or blank every piece of personal data you keep
    about this customer (figures without personal data, such as order amounts, may stay)."""

    customer_id: int


@dataclass(frozen=True)
class OwnerChanged(DomainEvent):
    """Who serves the customer changed; new sales are credited to the new owner from now on."""

    customer_id: int
    old_kind: str
    old_id: int | None
    new_kind: str
    new_id: int | None


@dataclass(frozen=True)
class CustomersHandedOver(DomainEvent):
    """All customers of one clerk moved to another in one go (a clerk left); no per-customer
    OwnerChanged events are published for a hand-over."""

    from_user_id: int
    to_user_id: int
    count: int


@dataclass(frozen=True)
class ConsentChanged(DomainEvent):
    """`channel` is a ConsentChannel value, or "all" for the global opt-out / opt-in."""

    customer_id: int
    channel: str
    granted: bool


@dataclass(frozen=True)
class CustomersTagged(DomainEvent):
    """A tag was added to (or, with `removed`, taken from) customers; `count` rows changed."""

    tag_id: int
    count: int
    removed: bool = False
