"""State machines: one transition table per machine and one function that applies it.

Every change of state goes through `transition()`: it checks the table, updates the row and writes an
append-only history row in the caller's transaction. Callers lock the row first (select_for_update).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from .access import Actor
from .errors import InvalidTransition


class StatusHistory(models.Model):
    """Abstract append-only history row; concrete models add a ForeignKey to their subject."""

    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("status history is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("status history is append-only")


def check_transition(
    table: Mapping[str, frozenset[str] | set[str]], current: str, target: str
) -> None:
    if target not in table.get(current, ()):
        raise InvalidTransition(
            _("Cannot change status from %(current)s to %(target)s.")
            % {"current": current, "target": target},
            fields={"status": current},
        )


def transition(
    obj: models.Model,
    target: str,
    *,
    table: Mapping[str, frozenset[str] | set[str]],
    history: type[StatusHistory],
    subject_field: str,
    actor: Actor,
    note: str = "",
    status_field: str = "status",
    update_fields: tuple[str, ...] = (),
    at=None,
) -> StatusHistory:
    """Move `obj` to `target` if the table allows it, save it and append a history row."""
    current = getattr(obj, status_field)
    check_transition(table, current, target)
    setattr(obj, status_field, target)
    obj.save(update_fields=[status_field, *update_fields])
    return history.objects.create(
        **{subject_field: obj},
        from_status=current,
        to_status=target,
        actor_kind=actor.kind,
        actor_id=actor.user_id if actor.kind == "staff" else actor.customer_id,
        actor_label=actor.label[:150],
        note=note,
        created_at=at or timezone.now(),
    )
