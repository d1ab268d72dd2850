"""Real concurrency on PostgreSQL: buyers racing for seats and stock, the last two members paying at
the same instant, and late payments racing the group's deadline."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from siyu.catalog.models import StockLevel
from siyu.core.access import Actor
from siyu.customers.models import Customer
from siyu.groupbuy import services
from siyu.groupbuy.errors import GroupClosed, GroupFull
from siyu.groupbuy.models import Group, GroupStatus, GroupStatusChange, Member, MemberStatus
from siyu.orders.errors import OutOfStock
from siyu.orders.models import Order, OrderStatus
from siyu.payments import devpay
from siyu.payments import services as payments
from siyu.payments.models import DevTrade, Refund
from tests import commerce

from .conftest import make_activity, purchase

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16  # database connections (the shared server allows 100 in total)


def _run_threads(target, chunks):
    barrier = threading.Barrier(len(chunks))
    errors = []

    def run(chunk):
        try:
            barrier.wait()
            target(chunk)
        except Exception as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)


def _start(order):
    """Open a payment and pay it at the dev cashier; the shop learns of it with `_confirm`."""
    start = payments.start_payment(
        order.pk, method="h5", actor=Actor.for_customer(order.customer_id)
    )
    devpay.pay(DevTrade.objects.get(out_trade_no=start.payment.out_trade_no).prepay_id)
    return start.payment.pk


def _confirm(payment_id):
    payments.sync_payment(payment_id, actor=Actor.system("test"))


def _open_groups(activity, n):
    groups = []
    for i in range(n):
        c = Customer.objects.create(name=f"团长{i}", source="mall")
        joined = services.open_group(Actor.for_customer(c.pk), activity.pk, purchase(activity))
        commerce.pay(joined.member.order)
        groups.append(Group.objects.get(pk=joined.group.pk))
    return groups


def _paid_per_group():
    return dict(
        Group.objects.annotate(
            paid=Count(
                "members",
                filter=Q(members__status__in=[MemberStatus.PAID, MemberStatus.SUCCEEDED]),
            )
        ).values_list("pk", "paid")
    )


def test_100_buyers_racing_for_seats_never_overfill_a_group_and_every_failed_group_is_refunded_once():
    units = 40
    activity = make_activity(size=3, stock=units)
    sku = commerce.sku_of(activity.items.first().sku.product)
    groups = _open_groups(activity, 12)  # 12 units reserved by initiators, 36 seats to take
    buyers = Customer.objects.bulk_create(
        [Customer(name=f"买家{i}", source="mall") for i in range(100)]
    )
    outcome = Counter()
    lock = threading.Lock()
    lowest = [units]
    over_filled = []
    done = threading.Event()
    unpaid = []

    def watch():
        try:
            while not done.is_set():
                level = StockLevel.objects.get(sku=sku)
                paid = _paid_per_group()
                with lock:
                    lowest[0] = min(lowest[0], level.on_hand - level.reserved)
                    over_filled.extend(pk for pk, n in paid.items() if n > 3)
                time.sleep(0.01)
        finally:
            connection.close()

    def buy(chunk):
        rng = random.Random(chunk[0].pk)
        for n, c in enumerate(chunk):
            who = Actor.for_customer(c.pk)
            tries = groups[:]
            rng.shuffle(tries)
            for group in tries:
                try:
                    joined = services.join_group(who, group.code, purchase(activity))
                except (GroupFull, GroupClosed):
                    continue
                except OutOfStock:
                    with lock:
                        outcome["sold_out"] += 1
                    break
                if n % 4 == 3:  # some never pay: their seats stay held
                    with lock:
                        outcome["unpaid"] += 1
                        unpaid.append(joined.member.order_id)
                    break
                _confirm(_start(joined.member.order))
                with lock:
                    outcome["paid"] += 1
                break
            else:
                with lock:
                    outcome["no_seat"] += 1

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        _run_threads(buy, [buyers[i::THREADS] for i in range(THREADS)])
    finally:
        done.set()
        watcher.join()

    assert sum(outcome.values()) == 100
    assert outcome["paid"] + outcome["unpaid"] <= 36
    assert not over_filled and lowest[0] >= 0
    for group in Group.objects.all():
        paid = group.members.filter(status__in=[MemberStatus.PAID, MemberStatus.SUCCEEDED])
        assert paid.count() == group.paid_count <= 3
        assert group.members.filter(status__in=["pending_payment", "paid"]).count() <= 3
        if group.status == GroupStatus.SUCCEEDED:
            assert paid.count() == 3
            assert GroupStatusChange.objects.filter(group=group, to_status="succeeded").count() == 1

    # the deadline passes while the unpaid members try to pay at the last moment
    later = timezone.now() + timedelta(days=2)
    late_payments = [_start(Order.objects.get(pk=pk)) for pk in unpaid]
    open_ids = list(Group.objects.filter(status=GroupStatus.OPEN).values_list("pk", flat=True))
    Group.objects.filter(pk__in=open_ids).update(expires_at=timezone.now())

    def finish(chunk):
        for kind, pk in chunk:
            if kind == "expire":
                services.expire_group(pk, now=later)
            else:
                _confirm(pk)

    work = [("expire", pk) for pk in open_ids] + [("pay", pk) for pk in late_payments]
    random.Random(7).shuffle(work)
    _run_threads(finish, [work[i::8] for i in range(8)])
    services.sweep(now=later)

    failed = Group.objects.filter(status=GroupStatus.FAILED)
    assert failed.count() == len(open_ids)
    assert not Group.objects.filter(status=GroupStatus.OPEN).exists()
    for group in failed:
        assert not group.members.filter(status__in=["pending_payment", "paid"]).exists()
    # every order money arrived for, outside a successful group, is refunded exactly once
    for order in Order.objects.filter(group_membership__group__status=GroupStatus.FAILED):
        refunds = Refund.objects.filter(order_id=order.pk)
        money_arrived = order.paid_fen > 0 or refunds.filter(origin="unapplied").exists()
        assert refunds.count() == (1 if money_arrived else 0), order.number
        commerce.settle_refunds(order)
    assert not Member.objects.filter(status=MemberStatus.REFUNDING).exists()
    level = StockLevel.objects.get(sku=sku)
    assert level.reserved == Member.objects.filter(status=MemberStatus.SUCCEEDED).count()
    assert level.on_hand - level.reserved >= 0
    assert (
        Order.objects.filter(
            group_membership__group__status=GroupStatus.FAILED, status=OrderStatus.PAID
        ).count()
        == 0
    )


def test_the_last_two_members_paying_at_the_same_instant_succeed_the_group_exactly_once():
    activity = make_activity(size=3, stock=100)
    groups = _open_groups(activity, 4)
    pairs = []
    for n, group in enumerate(groups):
        members = []
        for i in range(2):
            c = Customer.objects.create(name=f"成员{n}-{i}", source="mall")
            joined = services.join_group(Actor.for_customer(c.pk), group.code, purchase(activity))
            members.append(_start(joined.member.order))
        pairs.append(members)

    for group, payment_ids in zip(groups, pairs, strict=True):
        _run_threads(lambda pid: _confirm(pid), payment_ids)
        group.refresh_from_db()
        assert group.status == GroupStatus.SUCCEEDED
        assert group.paid_count == 3
        assert GroupStatusChange.objects.filter(group=group, to_status="succeeded").count() == 1
        assert group.members.filter(status=MemberStatus.SUCCEEDED).count() == 3
        assert not Refund.objects.filter(order_id__in=group.members.values("order_id")).exists()
