"""Events group buying publishes (ids and figures only)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.events import DomainEvent


@dataclass(frozen=True)
class GroupOpened(DomainEvent):
    group_id: int
    activity_id: int
    initiator_id: int


@dataclass(frozen=True)
class GroupSucceeded(DomainEvent):
    group_id: int
    activity_id: int
    paid_fen: int


@dataclass(frozen=True)
class GroupFailed(DomainEvent):
    group_id: int
    activity_id: int
    paid_members: int
