"""Coupons under real concurrency on PostgreSQL: threads released at the same instant."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.core.errors import DomainError
from siyu.marketing import services
from siyu.marketing.models import CustomerCoupon
from siyu.orders.models import Order
from tests.commerce import customer, place, product, sku_of

from .conftest import make_coupon, reload
from .race import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_orders_racing_for_the_same_coupon_exactly_one_succeeds():
    c = customer()
    held = services.grant_coupon(
        customer_id=c.pk, coupon_id=make_coupon().pk, source="t", idempotency_key="once"
    )
    item = sku_of(product(stock=50))
    results = race(lambda i: place(c, [(item, 1)], context={"coupon_codes": [held.code]}), 2)
    placed = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(placed) == 1 and len(refused) == 1
    assert refused[0].code == "coupon_not_usable"
    held.refresh_from_db()
    assert held.status == "used" and held.order_id == placed[0].pk
    assert Order.objects.filter(customer=c).count() == 1


def test_many_orders_racing_for_one_coupon_use_it_once():
    c = customer()
    held = services.grant_coupon(
        customer_id=c.pk, coupon_id=make_coupon().pk, source="t", idempotency_key="once"
    )
    item = sku_of(product(stock=50))
    results = race(lambda i: place(c, [(item, 1)], context={"coupon_codes": [held.code]}), 8)
    assert sum(isinstance(r, Order) for r in results) == 1
    assert Order.objects.filter(customer=c, discount_fen__gt=0).count() == 1


def test_concurrent_grants_with_one_key_create_one_copy():
    coupon = make_coupon(per_customer_limit=10)
    c = customer()
    results = race(
        lambda i: services.grant_coupon(
            customer_id=c.pk, coupon_id=coupon.pk, source="t", idempotency_key="same"
        ),
        10,
    )
    assert len({r.pk for r in results}) == 1
    assert CustomerCoupon.objects.filter(customer=c).count() == 1
    assert reload(coupon).issued_count == 1


def test_a_burst_of_claims_never_exceeds_the_total_or_the_per_customer_limit():
    coupon = make_coupon(total_quantity=5, per_customer_limit=1)
    people = [customer(f"顾客{i}") for i in range(8)]
    # each of 8 customers taps twice at once: 16 claims for 5 coupons
    results = race(lambda i: services.claim(Actor.for_customer(people[i % 8].pk), coupon.pk), 16)
    won = [r for r in results if isinstance(r, CustomerCoupon)]
    assert len({r.pk for r in won}) == 5
    assert reload(coupon).issued_count == 5
    per_customer = CustomerCoupon.objects.values_list("customer_id", flat=True)
    assert len(per_customer) == len(set(per_customer)) == 5
    codes = {r.code for r in results if isinstance(r, DomainError)}
    assert codes <= {"coupon_sold_out", "coupon_limit_reached"}
