"""Who serves each customer: a history, and hand-overs when a clerk leaves."""

import pytest

from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers.models import Customer, Ownership
from siyu.customers.services import assign_owner, hand_over_customers, visible_customers
from tests.conftest import actor_of

pytestmark = pytest.mark.django_db


def test_assigning_an_owner_keeps_the_history_and_moves_the_store(
    system, register, clerk, make_staff, other_store
):
    c = register(owner=clerk)
    far_clerk = make_staff("clerk", store=other_store)
    assign_owner(c.pk, actor=system, owner_id=far_clerk.pk, reason="顾客搬家")
    c.refresh_from_db()
    assert (c.owner_user_id, c.owner_kind, c.store_id) == (far_clerk.pk, "clerk", other_store.pk)
    history = list(Ownership.objects.filter(customer=c).order_by("started_at", "pk"))
    assert [o.owner_id for o in history] == [clerk.pk, far_clerk.pk]
    assert history[0].ended_at == history[1].started_at
    assert history[1].reason == "顾客搬家"


def test_a_leader_can_own_a_customer(system, register):
    c = register()
    assign_owner(c.pk, actor=system, owner_kind="leader", owner_id=77, owner_label="团长王姐")
    c.refresh_from_db()
    assert (c.owner_kind, c.owner_id, c.owner_user_id) == ("leader", 77, None)


def test_store_manager_assigns_only_within_their_store(
    register, clerk, store_manager, make_staff, other_store
):
    c = register(owner=clerk)
    mine = make_staff("clerk")
    theirs = make_staff("clerk", store=other_store)
    manager = actor_of(store_manager)
    assign_owner(c.pk, actor=manager, owner_id=mine.pk)
    with pytest.raises(ValidationFailed) as err:
        assign_owner(c.pk, actor=manager, owner_id=theirs.pk)
    assert "owner_id" in err.value.fields
    with pytest.raises(PermissionDenied):
        assign_owner(c.pk, actor=actor_of(clerk), owner_id=mine.pk)


def test_a_leaving_clerks_customers_are_handed_over_in_a_few_statements(
    system, register, clerk, make_staff, django_assert_max_num_queries
):
    successor = make_staff("clerk")
    customers = [register(owner=clerk) for _ in range(25)]
    kept = register(owner=successor)
    with django_assert_max_num_queries(14):
        moved = hand_over_customers(clerk.pk, successor.pk, actor=system, reason="离职交接")
    assert moved == 25
    assert Customer.objects.filter(owner_user=successor).count() == 26
    assert not visible_customers(actor_of(clerk)).exists()
    for c in customers[:3]:
        history = Ownership.objects.filter(customer=c).order_by("started_at", "pk")
        assert [(o.owner_id, o.ended_at is None) for o in history] == [
            (clerk.pk, False),
            (successor.pk, True),
        ]
    assert Ownership.objects.filter(customer=kept).count() == 1
    entry = AuditEntry.objects.get(action="customers.handed_over")
    assert entry.data["count"] == 25 and entry.data["to_user"] == successor.pk


def test_a_store_manager_hands_over_only_their_own_clerks(
    register, clerk, store_manager, make_staff, other_store
):
    far = make_staff("clerk", store=other_store)
    register(owner=far)
    with pytest.raises(ValidationFailed):
        hand_over_customers(far.pk, clerk.pk, actor=actor_of(store_manager))
    assert Customer.objects.get().owner_user_id == far.pk
