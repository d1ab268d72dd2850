"""Keep the segment index in step with the analytics snapshot; take part in personal-data requests."""

from __future__ import annotations

from siyu.analytics.events import SnapshotReplaced
from siyu.core.events import subscribe
from siyu.customers.events import CustomerErased
from siyu.customers.personal_data import export_section


@subscribe(SnapshotReplaced)
def rebuild_index_after_refresh(event: SnapshotReplaced) -> None:
    from .tasks import rebuild_index

    rebuild_index.enqueue()


@export_section("segment_lists")
def frozen_lists(customer_ids: list[int]) -> list[dict]:
    """Which frozen segment lists (campaign audiences) held the customer, and when (PIPL export)."""
    from .models import SegmentMember

    rows = (
        SegmentMember.objects.filter(customer_id__in=customer_ids)
        .select_related("snapshot__segment")
        .order_by("snapshot__created_at", "snapshot_id")
    )
    return [
        {
            "segment": m.snapshot.segment.name,
            "frozen_at": m.snapshot.created_at.isoformat(),
            "channel": m.snapshot.channel,
            "opted_out": m.opted_out,
        }
        for m in rows
    ]


@subscribe(CustomerErased, in_transaction=True)
def forget_erased_customer(event: CustomerErased) -> None:
    """An erased customer leaves every frozen list, so no campaign can reach them from one."""
    from .models import SegmentMember

    SegmentMember.objects.filter(customer_id=event.customer_id).delete()
