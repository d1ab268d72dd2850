"""Flash sales: setting one up, buying at the activity price, the quota and the per-customer
limit, and units coming back when an unpaid order is cancelled or times out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.errors import DomainError, ValidationFailed
from siyu.marketing import flash
from siyu.marketing.models import FlashSaleBuyer, FlashSaleReservation
from siyu.orders import services as orders
from tests.commerce import customer, pay, product, sku_of, stock_of

from .conftest import OPS, buy, make_sale, minutes

pytestmark = pytest.mark.django_db


def test_a_sale_needs_a_title_times_and_prices_below_the_normal_price():
    sku = sku_of(product(price_fen=19900))
    with pytest.raises(ValidationFailed) as err:
        flash.create_sale(
            OPS,
            title="",
            starts_at=minutes(10),
            ends_at=minutes(5),
            items=[flash.ItemInput(sku.pk, 19900, 0)],
        )
    assert {"title", "ends_at", "items[0].price_fen", "items[0].quota"} <= set(err.value.fields)


def test_buying_places_a_flash_sale_order_at_the_activity_price():
    sku = sku_of(product(price_fen=19900))
    sale = make_sale(sku, price_fen=9900, quota=10, limit=2)
    order = buy(customer(), sale, 2)
    assert order.channel == "flash_sale"
    line = order.lines.get()
    assert (line.unit_price_fen, line.discount_fen) == (19900, 2 * 10000)
    assert order.payable_fen == 2 * 9900 + order.shipping_fen
    item = sale.items.get()
    assert item.sold == 2
    assert FlashSaleReservation.objects.get(order=order).status == "held"
    assert stock_of(sku).reserved == 2


def test_the_same_idempotency_key_returns_the_same_order():
    sale = make_sale(sku_of(product()), quota=5, limit=1)
    c = customer()
    first = buy(c, sale, key="k1")
    again = buy(c, sale, key="k1")
    assert first.pk == again.pk
    assert sale.items.get().sold == 1


def test_no_one_buys_more_than_the_limit_and_no_one_beyond_the_quota():
    sale = make_sale(sku_of(product()), quota=2, limit=1)
    a, b, c = customer("甲"), customer("乙"), customer("丙")
    buy(a, sale)
    with pytest.raises(DomainError) as err:
        buy(a, sale, key="second-try")
    assert err.value.code == "sale_limit_reached"
    buy(b, sale)
    with pytest.raises(DomainError) as err:
        buy(c, sale)
    assert err.value.code == "sale_sold_out"
    assert sale.items.get().sold == 2


def test_a_sale_sells_only_between_its_start_and_end():
    sku = sku_of(product())
    upcoming = make_sale(sku, starts_at=minutes(30), ends_at=minutes(90))
    with pytest.raises(DomainError) as err:
        buy(customer(), upcoming)
    assert err.value.code == "sale_not_live" and err.value.fields == {"sale": "upcoming"}
    draft = make_sale(sku_of(product()), publish=False)
    with pytest.raises(DomainError):
        buy(customer(), draft)


def test_a_cancelled_order_returns_its_units_to_the_quota_and_the_buyer():
    sale = make_sale(sku_of(product()), quota=1, limit=1)
    c = customer()
    order = buy(c, sale)
    orders.cancel_order(order.pk, actor=Actor.for_customer(c.pk), reason="不要了")
    item = sale.items.get()
    assert item.sold == 0
    assert FlashSaleBuyer.objects.get(sale=sale, customer=c).quantity == 0
    assert FlashSaleReservation.objects.get(order=order).status == "released"
    again = buy(c, sale, key="after-cancel")
    assert again.pk != order.pk and sale.items.get().sold == 1


def test_an_unpaid_order_that_times_out_returns_its_units():
    sale = make_sale(sku_of(product()), quota=1)
    order = buy(customer(), sale)
    assert orders.expire_order(order.pk, now=timezone.now() + timedelta(hours=2))
    assert sale.items.get().sold == 0


def test_paying_turns_the_hold_into_a_sale_and_figures_follow():
    sku = sku_of(product(price_fen=19900))
    sale = make_sale(sku, price_fen=9900, quota=10, limit=3)
    pay(buy(customer("甲"), sale, 3))
    buy(customer("乙"), sale, 1)
    figures = flash.sale_figures([sale.pk])[sale.pk]
    assert figures == {
        "held": 1,
        "paid": 3,
        "buyers": 2,
        "gmv_fen": 3 * 9900,
        "cost_fen": 3 * 10000,
        "quota": 10,
    }


def test_an_order_with_the_flash_context_cannot_sneak_in_other_items():
    from tests.commerce import place

    sku = sku_of(product())
    sale = make_sale(sku)
    with pytest.raises(DomainError) as err:
        place(
            customer(),
            [(sku, 1), (sku_of(product("面霜")), 1)],
            context={"flash_sale": {"item": sale.items.get().pk}},
        )
    assert "items" in err.value.fields
