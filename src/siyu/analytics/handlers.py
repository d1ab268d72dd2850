"""Stored scores follow customers through merges and erasures, in the same transaction.

The nightly run scores survivors only (a merged record's orders count for its survivor) and never
scores erased customers; between runs these handlers keep `CustomerScore` consistent with that.
"""

from __future__ import annotations

from siyu.core.events import subscribe
from siyu.customers.events import CustomerErased, CustomersMerged


@subscribe(CustomersMerged, in_transaction=True)
def follow_merge(event: CustomersMerged) -> None:
    """The merged record (now a tombstone) loses its score row. When the survivor had no purchases
    of its own but the merged record had, the merged record's scores move to the survivor, so the
    customer page shows the person's purchase history until the next run scores both together."""
    from .models import CustomerScore

    merged = CustomerScore.objects.filter(customer_id=event.merged_id)
    merged_orders = merged.values_list("orders", flat=True).first()
    if merged_orders is None:
        return
    survivor = CustomerScore.objects.filter(customer_id=event.survivor_id)
    survivor_orders = survivor.values_list("orders", flat=True).first()
    if survivor_orders is None or (survivor_orders == 0 and merged_orders > 0):
        survivor.delete()
        merged.update(customer_id=event.survivor_id)
    else:
        merged.delete()


@subscribe(CustomerErased, in_transaction=True)
def forget_erased_customer(event: CustomerErased) -> None:
    """Scores are a profile of the person: an erased customer keeps none."""
    from .models import CustomerScore

    CustomerScore.objects.filter(customer_id=event.customer_id).delete()
