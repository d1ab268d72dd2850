"""A group's life: opening by paying, success at the N-th payment, failure with automatic refunds,
members leaving, seats freed by unpaid timeouts, and the rules that keep it honest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from siyu.core.access import Actor
from siyu.core.errors import Conflict, ValidationFailed
from siyu.groupbuy import services
from siyu.groupbuy.errors import (
    ActivityNotLive,
    AlreadyInGroup,
    GroupBuyLimitReached,
    GroupClosed,
    GroupFull,
)
from siyu.groupbuy.models import GroupStatus, Member, MemberStatus
from siyu.orders import services as orders
from siyu.orders.models import Channel, OrderStatus
from siyu.payments.models import Refund
from tests import commerce

from .conftest import join, make_activity, open_paid_group, purchase, shopper, sku_id_of

pytestmark = pytest.mark.django_db


def _statuses(group):
    return sorted(group.members.values_list("status", flat=True))


def test_opening_places_a_held_group_price_order_and_the_initiators_payment_opens_the_group():
    activity = make_activity(size=3, hours=24, group_price_fen=9900, price_fen=19900)
    c, who = shopper()
    joined = services.open_group(who, activity.pk, purchase(activity))
    group, order = joined.group, joined.member.order
    assert group.status == GroupStatus.AWAITING_PAYMENT
    assert (order.channel, order.goods_amount_fen, order.discount_fen) == (
        Channel.GROUP_BUY,
        19900,
        10000,
    )
    assert order.payable_fen == 9900  # group price, free shipping from 99 yuan
    assert order.adjustments.get().code == "group_price"
    assert order.fulfilment_hold == f"group_buy:{group.pk}"

    before = timezone.now()
    commerce.pay(order)
    group.refresh_from_db()
    assert group.status == GroupStatus.OPEN
    assert (group.paid_count, group.seats_taken) == (1, 1)
    assert before + timedelta(hours=24) <= group.expires_at <= timezone.now() + timedelta(hours=24)
    assert list(group.history.values_list("to_status", flat=True)) == [
        "awaiting_payment",
        "open",
    ]
    # the deadline is a persisted task, due at the group's expiry
    task = DBTaskResult.objects.get(task_path__endswith="expire_group_task")
    assert task.run_after == group.expires_at and task.args_kwargs["args"] == [group.pk]


def test_the_nth_payment_succeeds_the_group_once_and_releases_every_order_for_shipping(run_tasks):
    activity = make_activity(size=3)
    group, _initiator = open_paid_group(activity)
    _c2, second = join(group, activity)
    _c3, third = join(group, activity)
    commerce.pay(second.member.order)
    group.refresh_from_db()
    assert group.status == GroupStatus.OPEN
    commerce.pay(third.member.order)
    group.refresh_from_db()
    assert group.status == GroupStatus.SUCCEEDED and group.paid_count == 3
    assert _statuses(group) == ["succeeded"] * 3
    assert group.history.filter(to_status="succeeded").count() == 1

    held = group.members.first().order
    held.refresh_from_db()
    assert held.status == OrderStatus.PAID
    run_tasks()  # the release task, enqueued when the group succeeded
    for member in group.members.select_related("order"):
        member.order.refresh_from_db()
        assert member.order.fulfilment_hold == ""
        assert member.released_at is not None
    shipment = orders.ship(
        held.pk, actor=Actor.system("test"), carrier="顺丰", tracking_no="SF100200300"
    )
    assert shipment.lines.get().quantity == 1


def test_orders_of_an_open_group_cannot_ship():
    activity = make_activity(size=2)
    group, initiator = open_paid_group(activity)
    order = group.members.get().order
    assert orders.shippable_quantities(order) == {order.lines.get().pk: 0}
    with pytest.raises(Conflict) as refused:
        orders.ship(order.pk, actor=Actor.system("test"), carrier="顺丰", tracking_no="SF1")
    assert refused.value.code == "on_hold"


def test_the_group_fails_when_time_runs_out_and_everyone_is_refunded_exactly_once(run_tasks):
    activity = make_activity(size=3, stock=10)
    group, _initiator = open_paid_group(activity)
    _c2, paid_joiner = join(group, activity)
    commerce.pay(paid_joiner.member.order)
    _c3, unpaid_joiner = join(group, activity)
    sku = commerce.sku_of(activity.items.first().sku.product)
    assert commerce.stock_of(sku).reserved == 3

    assert services.expire_group(group.pk) is False  # not due yet
    later = group.expires_at + timedelta(seconds=1)
    assert services.expire_group(group.pk, now=later) is True
    group.refresh_from_db()
    assert group.status == GroupStatus.FAILED
    assert _statuses(group) == ["cancelled", "refunding", "refunding"]
    unpaid_joiner.member.order.refresh_from_db()
    assert unpaid_joiner.member.order.status == OrderStatus.CANCELLED

    # a retried timer or the sweep does not refund again
    assert services.expire_group(group.pk, now=later) is False
    assert services.sweep(now=later)["failed"] == 0
    paid_orders = [m.order for m in group.members.filter(status=MemberStatus.REFUNDING)]
    for order in paid_orders:
        assert Refund.objects.filter(order_id=order.pk).count() == 1
        commerce.settle_refunds(order)
        assert order.status == OrderStatus.REFUNDED
        assert order.refunded_fen == order.paid_fen == 9900
    assert _statuses(group) == ["cancelled", "refunded", "refunded"]
    assert commerce.stock_of(sku).reserved == 0


def test_a_seat_whose_cancellation_was_missed_is_freed_by_the_sweep():
    activity = make_activity(size=2)
    group, _initiator = open_paid_group(activity)
    _c2, joined = join(group, activity)
    order = joined.member.order
    orders.expire_order(order.pk, now=order.payment_deadline + timedelta(seconds=1))
    joined.member.refresh_from_db()
    assert joined.member.status == MemberStatus.PENDING_PAYMENT  # its handler was lost
    assert services.sweep()["seats_freed"] == 1
    group.refresh_from_db()
    assert group.seats_taken == 1


def test_the_expiry_task_fails_the_group_at_its_deadline(run_tasks):
    activity = make_activity(size=2)
    group, _initiator = open_paid_group(activity)
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(task_path__endswith="expire_group_task").update(
        run_after=timezone.now() - timedelta(seconds=1)
    )
    type(group).objects.filter(pk=group.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    run_tasks()
    group.refresh_from_db()
    assert group.status == GroupStatus.FAILED
    assert _statuses(group) == ["refunding"]


def test_a_member_who_leaves_before_success_is_refunded_and_the_seat_reopens():
    activity = make_activity(size=3)
    group, initiator = open_paid_group(activity)
    _c2, second = join(group, activity)
    commerce.pay(second.member.order)
    group.refresh_from_db()
    assert (group.paid_count, group.seats_taken) == (2, 2)

    # the initiator leaves: the group goes on without them
    first = group.members.get(is_initiator=True)
    services.leave_group(first.pk, actor=Actor.for_customer(initiator.pk))
    group.refresh_from_db()
    first.refresh_from_db()
    assert first.status == MemberStatus.REFUNDING and first.refund_key
    assert (group.status, group.paid_count, group.seats_taken) == (GroupStatus.OPEN, 1, 1)
    commerce.settle_refunds(first.order)
    first.refresh_from_db()
    assert first.status == MemberStatus.REFUNDED

    # two newcomers fill it
    for _ in range(2):
        _c, joined = join(group, activity)
        commerce.pay(joined.member.order)
    group.refresh_from_db()
    assert group.status == GroupStatus.SUCCEEDED
    assert _statuses(group) == ["refunded", "succeeded", "succeeded", "succeeded"]


def test_an_unpaid_join_that_times_out_frees_its_seat(django_capture_on_commit_callbacks):
    activity = make_activity(size=2)
    group, _initiator = open_paid_group(activity)
    _c2, joined = join(group, activity)
    group.refresh_from_db()
    assert group.seats_taken == 2
    c3, who3 = shopper()
    with pytest.raises(GroupFull):
        services.join_group(who3, group.code, purchase(activity))

    order = joined.member.order
    assert order.payment_deadline <= group.expires_at
    with django_capture_on_commit_callbacks(execute=True):  # the seat frees after the commit
        assert orders.expire_order(order.pk, now=order.payment_deadline + timedelta(seconds=1))
    group.refresh_from_db()
    joined.member.refresh_from_db()
    assert joined.member.status == MemberStatus.CANCELLED
    assert group.seats_taken == 1

    third = services.join_group(who3, group.code, purchase(activity))
    commerce.pay(third.member.order)
    group.refresh_from_db()
    assert group.status == GroupStatus.SUCCEEDED


def test_a_payment_that_arrives_after_the_group_closed_is_refunded():
    activity = make_activity(size=3)
    group, _initiator = open_paid_group(activity)
    _c2, joined = join(group, activity)
    # the deadline passed, the timer has not run yet, and the member pays now
    type(group).objects.filter(pk=group.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    order = commerce.pay(joined.member.order)
    assert order.status == OrderStatus.PENDING_PAYMENT  # refused
    refund = Refund.objects.get(order_id=order.pk)
    assert refund.amount_fen == order.payable_fen and refund.refund_key.startswith("unapplied-")
    joined.member.refresh_from_db()
    assert joined.member.status == MemberStatus.PENDING_PAYMENT

    services.expire_group(group.pk)
    joined.member.refresh_from_db()
    group.refresh_from_db()
    assert group.status == GroupStatus.FAILED
    assert joined.member.status == MemberStatus.CANCELLED
    assert Refund.objects.filter(order_id=order.pk).count() == 1


def test_one_live_group_per_customer_per_activity():
    activity = make_activity(size=3)
    c, who = shopper()
    services.open_group(who, activity.pk, purchase(activity))
    with pytest.raises(AlreadyInGroup):
        services.open_group(who, activity.pk, purchase(activity))
    other, _ = open_paid_group(activity)
    with pytest.raises(AlreadyInGroup):
        services.join_group(who, other.code, purchase(activity))


def test_the_same_idempotency_key_returns_the_same_seat():
    activity = make_activity(size=3)
    group, _ = open_paid_group(activity)
    c, who = shopper()
    first = services.join_group(who, group.code, purchase(activity, key="join-1"))
    again = services.join_group(who, group.code, purchase(activity, key="join-1"))
    assert (again.member.pk, again.created) == (first.member.pk, False)
    group.refresh_from_db()
    assert group.seats_taken == 2


def test_per_customer_limit_counts_units_across_groups():
    activity = make_activity(size=2, limit=2)
    c, who = shopper()
    with pytest.raises(GroupBuyLimitReached) as over:
        services.open_group(who, activity.pk, purchase(activity, quantity=3))
    assert "quantity" in over.value.fields
    joined = services.open_group(who, activity.pk, purchase(activity, quantity=2))
    commerce.pay(joined.member.order)
    _c, partner = join(joined.group, activity)
    commerce.pay(partner.member.order)
    with pytest.raises(GroupBuyLimitReached):
        services.open_group(who, activity.pk, purchase(activity))


def test_joining_needs_an_open_group_and_a_running_activity():
    activity = make_activity(size=2)
    c, who = shopper()
    pending = services.open_group(who, activity.pk, purchase(activity)).group
    _c2, who2 = shopper()
    with pytest.raises(GroupClosed):  # the initiator has not paid yet
        services.join_group(who2, pending.code, purchase(activity))
    services.end_activity(activity.pk, actor=Actor.system("test"))
    with pytest.raises(ActivityNotLive):
        services.open_group(who2, activity.pk, purchase(activity))


def test_the_initiator_not_paying_abandons_the_group(django_capture_on_commit_callbacks):
    activity = make_activity(size=2)
    c, who = shopper()
    joined = services.open_group(who, activity.pk, purchase(activity))
    with django_capture_on_commit_callbacks(execute=True):
        orders.cancel_order(joined.member.order_id, actor=who, reason="不要了")
    joined.group.refresh_from_db()
    assert joined.group.status == GroupStatus.ABANDONED
    # and the customer may open again
    services.open_group(who, activity.pk, purchase(activity))


def test_the_group_price_is_not_available_through_a_normal_checkout():
    activity = make_activity(size=2, group_price_fen=9900, price_fen=19900)
    c, _who = shopper()
    order = commerce.place(
        c, [(sku_id_of(activity), 1)], context={"group_buy_activity": activity.pk}
    )
    assert order.channel == Channel.MALL and order.payable_fen == 19900
    assert not order.adjustments.exists()


def test_stock_is_reserved_per_member_and_a_sold_out_join_takes_no_seat():
    activity = make_activity(size=3, stock=2)
    group, _ = open_paid_group(activity)
    join(group, activity)
    from siyu.orders.errors import OutOfStock

    c, who = shopper()
    with pytest.raises(OutOfStock):
        services.join_group(who, group.code, purchase(activity))
    group.refresh_from_db()
    assert group.seats_taken == 2
    assert not Member.objects.filter(customer=c).exists()


def test_activity_setup_names_the_bad_fields():
    sku = commerce.sku_of(commerce.product(price_fen=10000))
    with pytest.raises(ValidationFailed) as bad:
        services.create_activity(
            services.ActivityInput(
                title="",
                group_size=51,
                time_limit_hours=0,
                starts_at=timezone.now(),
                ends_at=timezone.now() - timedelta(days=1),
                items=[(sku.pk, 10000)],
            ),
            actor=Actor.system("test"),
        )
    assert set(bad.value.fields) == {
        "title",
        "group_size",
        "time_limit_hours",
        "ends_at",
        f"items.{sku.pk}",
    }


def test_a_group_in_its_last_minutes_takes_no_new_members():
    activity = make_activity(size=3)
    group, _ = open_paid_group(activity)
    type(group).objects.filter(pk=group.pk).update(
        expires_at=timezone.now() + timedelta(seconds=90)
    )
    c, who = shopper()
    with pytest.raises(GroupClosed):
        services.join_group(who, group.code, purchase(activity))
