"""Events the segments app publishes (campaigns start from a materialised segment)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


@dataclass(frozen=True)
class SegmentMaterialised(DomainEvent):
    """The members of a segment were frozen into SegmentSnapshot ``snapshot_id``."""

    snapshot_id: int
    segment_id: int
    members: int
    channel: str  # the channel they are contactable on ("" when not filtered for reach)
