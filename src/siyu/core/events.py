"""Domain events: how one app tells the others that something happened, without importing them.

Two kinds of subscriber:

* ``subscribe(Event, in_transaction=True)`` runs inside the publisher's transaction. Use it for
  work that must happen exactly when the event does (posting a commission when an order is paid):
  if the handler fails, the whole change rolls back, so nothing is half done.
* ``subscribe(Event)`` (the default) runs after the transaction commits. Use it for work that may be
  retried or lost without harm (notifications, cache refresh), or that enqueues a durable task.

Handlers must be idempotent: events may be published again when a job is retried.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    """Base class: subclasses are frozen dataclasses with ids and figures, never model instances."""


Handler = Callable[[DomainEvent], None]
_in_tx: dict[type, list[Handler]] = defaultdict(list)
_after_commit: dict[type, list[Handler]] = defaultdict(list)


def subscribe(event_type: type[DomainEvent], *, in_transaction: bool = False):
    """Decorator registering a handler for an event type (and its subclasses)."""

    def register(handler: Handler) -> Handler:
        registry = _in_tx if in_transaction else _after_commit
        if handler not in registry[event_type]:
            registry[event_type].append(handler)
        return handler

    return register


def _handlers(registry: dict[type, list[Handler]], event: DomainEvent) -> list[Handler]:
    found: list[Handler] = []
    for klass in type(event).__mro__:
        found.extend(registry.get(klass, ()))
    return found


def _deliver_after_commit(event: DomainEvent) -> None:
    for handler in _handlers(_after_commit, event):
        try:
            handler(event)
        except Exception:  # a failed follower must not break the others; the log keeps it
            log.exception("after-commit handler %s failed for %r", handler.__qualname__, event)


def publish(event: DomainEvent) -> None:
    """Run in-transaction handlers now; queue the rest for after the surrounding commit."""
    for handler in _handlers(_in_tx, event):
        handler(event)
    if _handlers(_after_commit, event):
        transaction.on_commit(lambda: _deliver_after_commit(event))
