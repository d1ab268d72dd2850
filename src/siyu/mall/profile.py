"""What the member page shows about the shopper, read from the customer pool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from siyu.core import crypto
from siyu.core.access import Actor
from siyu.core.errors import NotFound, PermissionDenied


@dataclass(frozen=True)
class ShopperProfile:
    customer_id: int
    name: str
    phone: str  # the shopper's own number: shown to them only
    phone_masked: str
    member_since: datetime

    @property
    def initial(self) -> str:
        return (self.name or "")[:1] or "☺"


def shopper_profile(actor: Actor) -> ShopperProfile:
    if actor.kind != "customer":
        raise PermissionDenied()
    from siyu.customers.models import Customer

    customer = (
        Customer.objects.filter(pk=actor.customer_id)
        .only("name", "phone", "first_seen_at", "created_at")
        .first()
    )
    if customer is None:
        raise NotFound()
    return ShopperProfile(
        customer_id=customer.pk,
        name=customer.name,
        phone=customer.phone or "",
        phone_masked=crypto.mask_phone(customer.phone),
        member_since=customer.created_at,
    )
