"""Events the analytics app publishes for others (segments and dashboards keep derived data)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


@dataclass(frozen=True)
class SnapshotReplaced(DomainEvent):
    """A new version of the columnar snapshot is in place (after a refresh or a scoring run)."""

    path: str
