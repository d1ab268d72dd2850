"""The mall's part in personal-data requests: the address book follows merges, is erased with the
customer, and is part of their PIPL export."""

from __future__ import annotations

from siyu.core.events import subscribe
from siyu.customers.events import CustomerErased, CustomersMerged
from siyu.customers.personal_data import export_section

from .models import Address


@subscribe(CustomersMerged, in_transaction=True)
def move_addresses_to_survivor(event: CustomersMerged) -> None:
    """The survivor keeps their default address; the merged record's entries join the book as
    ordinary ones (the one-default constraint holds throughout)."""
    if Address.objects.filter(customer_id=event.survivor_id, is_default=True).exists():
        Address.objects.filter(customer_id=event.merged_id, is_default=True).update(
            is_default=False
        )
    Address.objects.filter(customer_id=event.merged_id).update(customer_id=event.survivor_id)


@subscribe(CustomerErased, in_transaction=True)
def delete_addresses_of_erased_customer(event: CustomerErased) -> None:
    Address.objects.filter(customer_id=event.customer_id).delete()


@export_section("addresses")
def addresses(customer_ids: list[int]) -> list[dict]:
    return [
        {
            "receiver_name": a.receiver_name,
            "receiver_phone": a.receiver_phone,
            "province": a.province,
            "city": a.city,
            "district": a.district,
            "detail": a.detail,
            "label": a.label,
            "is_default": a.is_default,
            "created_at": a.created_at.isoformat(),
        }
        for a in Address.objects.filter(customer_id__in=customer_ids).order_by("pk")
    ]
