"""A burst of buyers at the start of a flash sale, with real threads on PostgreSQL, in both
modes: conditional database updates, and the Redis Lua admission in front of them."""

from __future__ import annotations

import time

import pytest
from django.db.models import Sum

from siyu.marketing import reservations
from siyu.marketing.models import FlashSaleBuyer, FlashSaleReservation
from siyu.orders import services as orders
from siyu.orders.models import Order
from tests.commerce import customer, product, sku_of, stock_of

from .conftest import buy, make_sale
from .race import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BUYERS = 12


def _burst(sale, people, attempts):
    # every customer tries twice at once (two taps, two keys): 2×BUYERS attempts on a small quota
    return race(lambda i: buy(people[i % len(people)], sale, key=f"tap-{i}"), attempts)


def _check_nothing_oversold(sale, sku, quota, limit):
    item = sale.items.get()
    placed = Order.objects.filter(channel="flash_sale").exclude(status="cancelled")
    units = placed.aggregate(n=Sum("lines__quantity"))["n"] or 0
    assert units == item.sold <= quota
    assert stock_of(sku).reserved == units
    per_customer = {}
    for o in placed:
        per_customer[o.customer_id] = per_customer.get(o.customer_id, 0) + 1
    assert max(per_customer.values()) <= limit
    held = FlashSaleReservation.objects.exclude(status="released").aggregate(n=Sum("quantity"))
    assert held["n"] == units
    counted = FlashSaleBuyer.objects.aggregate(n=Sum("quantity"))["n"]
    assert counted == units
    return units


def test_a_burst_in_database_mode_sells_exactly_the_quota_and_respects_the_limit(settings):
    settings.SIYU_FLASH_SALE_MODE = "db"
    sku = sku_of(product(stock=100))
    sale = make_sale(sku, quota=5, limit=1)
    people = [customer(f"买家{i}") for i in range(BUYERS)]
    results = _burst(sale, people, 2 * BUYERS)
    assert sum(isinstance(r, Order) for r in results) == 5
    assert {r.code for r in results if not isinstance(r, Order)} <= {
        "sale_sold_out",
        "sale_limit_reached",
    }
    assert _check_nothing_oversold(sale, sku, 5, 1) == 5


def test_stock_below_the_quota_is_never_oversold_either(settings):
    settings.SIYU_FLASH_SALE_MODE = "db"
    sku = sku_of(product(stock=3))
    sale = make_sale(sku, quota=10, limit=1)
    people = [customer(f"买家{i}") for i in range(BUYERS)]
    results = race(lambda i: buy(people[i], sale), BUYERS)
    assert sum(isinstance(r, Order) for r in results) == 3
    assert stock_of(sku).reserved == 3 and sale.items.get().sold == 3


@pytest.mark.redis
def test_a_burst_through_redis_sells_exactly_the_quota_and_respects_the_limit(redis_mode):
    sku = sku_of(product(stock=100))
    sale = make_sale(sku, quota=5, limit=1)
    people = [customer(f"买家{i}") for i in range(BUYERS)]
    results = _burst(sale, people, 2 * BUYERS)
    assert sum(isinstance(r, Order) for r in results) == 5
    assert _check_nothing_oversold(sale, sku, 5, 1) == 5
    item = sale.items.get()
    assert reservations.left_in_redis(sale.pk, item.pk) == 0
    assert redis_mode.zcard(reservations.key_pending(sale.pk, item.pk)) == 0


@pytest.mark.redis
def test_redis_gets_units_back_when_an_unpaid_order_is_cancelled(redis_mode):
    from siyu.core.access import Actor

    sale = make_sale(sku_of(product()), quota=2, limit=1)
    a, b, c = customer("甲"), customer("乙"), customer("丙")
    first = buy(a, sale)
    buy(b, sale)
    item = sale.items.get()
    assert reservations.left_in_redis(sale.pk, item.pk) == 0
    orders.cancel_order(first.pk, actor=Actor.for_customer(a.pk), reason="不要了")
    assert reservations.left_in_redis(sale.pk, item.pk) == 1
    # cancelling twice (a replayed event) gives back once
    from django.db import transaction

    from siyu.marketing import flash

    with transaction.atomic():
        flash.give_back(first.pk)
    assert reservations.left_in_redis(sale.pk, item.pk) == 1
    buy(c, sale)
    assert sale.items.get().sold == 2


@pytest.mark.redis
def test_reconcile_returns_admissions_a_crashed_worker_left_behind(redis_mode):
    sale = make_sale(sku_of(product()), quota=3, limit=1)
    item = sale.items.get()
    reservations.prime(sale.pk)
    ghost = customer("掉线的买家")
    # admitted in Redis, then the worker died before placing the order
    reservations.reserve(sale, item, ghost.pk, 1, "dead-token")
    assert reservations.left_in_redis(sale.pk, item.pk) == 2
    paid = buy(customer("甲"), sale)
    # drift: someone wiped a counter by hand
    redis_mode.set(reservations.key_left(sale.pk, item.pk), 99)
    time.sleep(0.01)
    result = reservations.reconcile(sale.pk, stale_seconds=0)
    assert result == {"returned": 1, "settled": 0}
    assert reservations.left_in_redis(sale.pk, item.pk) == 2
    assert redis_mode.hget(reservations.key_buyers(sale.pk), str(ghost.pk)) in (None, b"0")
    assert redis_mode.hget(reservations.key_buyers(sale.pk), str(paid.customer_id)) == b"1"
