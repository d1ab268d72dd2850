import pytest
from django.db import transaction

from siyu.core import audit, events
from siyu.core.access import Actor
from siyu.core.errors import InvalidTransition
from siyu.core.models import AuditEntry
from siyu.core.states import check_transition

TABLE = {"a": {"b"}, "b": {"c"}, "c": set()}


def test_transition_table_allows_only_listed_moves():
    check_transition(TABLE, "a", "b")
    with pytest.raises(InvalidTransition) as err:
        check_transition(TABLE, "a", "c")
    assert err.value.code == "invalid_transition"
    assert err.value.status == 409


def test_after_commit_subscribers_run_only_after_commit(db):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Happened(events.DomainEvent):
        n: int

    seen_in_tx, seen_after = [], []
    events.subscribe(Happened, in_transaction=True)(lambda e: seen_in_tx.append(e.n))
    events.subscribe(Happened)(lambda e: seen_after.append(e.n))

    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish(Happened(1))
        assert seen_in_tx == [1]
        raise RuntimeError("roll back")
    assert seen_after == []  # the transaction never committed


def test_after_commit_subscribers_run_after_a_commit(db, django_capture_on_commit_callbacks):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Done(events.DomainEvent):
        n: int

    seen = []
    events.subscribe(Done)(lambda e: seen.append(e.n))
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            events.publish(Done(7))
        assert seen == []
    assert seen == [7]


def test_audit_trail_is_append_only(db):
    entry = audit.record(
        Actor.system("t"), "thing.done", object_type="x", object_id=1, summary="ok"
    )
    assert AuditEntry.objects.get().action == "thing.done"
    entry.summary = "changed"
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()
