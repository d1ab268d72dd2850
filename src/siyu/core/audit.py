"""Write audit entries in the caller's transaction."""

from __future__ import annotations

from typing import Any

from .access import Actor
from .models import AuditEntry


def record(
    actor: Actor,
    action: str,
    *,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    summary: str = "",
    data: dict | None = None,
) -> AuditEntry:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    return AuditEntry.objects.create(
        actor_kind=actor.kind,
        actor_id=actor.user_id if actor.kind == "staff" else actor.customer_id,
        actor_label=actor.label[:150],
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        summary=summary,
        data=data or {},
    )


def entries_for(object_type: str, object_id: Any):
    return AuditEntry.objects.filter(object_type=object_type, object_id=str(object_id))
