"""In Chromium against a live server: a shopper claims a coupon in the H5 coupon centre and uses
it at checkout (preselected as the best one), and buys in a flash sale from the page with the
countdown; both orders are paid with the dev provider."""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from django.conf import settings as django_settings

from siyu.core.access import Actor
from siyu.mall import services as mall
from siyu.marketing.models import CustomerCoupon
from siyu.orders.models import Order
from tests.commerce import ADDRESS, customer, product, sku_of

from .conftest import make_coupon, make_sale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def logged_in_shopper(page_for, live_server, locale: str = "zh-CN"):
    """A customer with a saved address, and a phone-sized page logged in as them."""
    c = customer("林小雨")
    mall.save_address(
        mall.AddressInput(
            receiver_name=ADDRESS["name"],
            receiver_phone=ADDRESS["phone"],
            province=ADDRESS["province"],
            city=ADDRESS["city"],
            district=ADDRESS["district"],
            detail=ADDRESS["detail"],
            is_default=True,
        ),
        actor=Actor.for_customer(c.pk),
    )
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store["customer_id"] = c.pk
    store.save()
    page = page_for(locale, **IPHONE)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SIYU_SHOPPER_SESSION_COOKIE,
                "value": store.session_key,
                "url": live_server.url,
            }
        ]
    )
    return c, page


def pay_on_the_page(page, run_tasks) -> None:
    page.wait_for_url("**/pay/")
    page.get_by_test_id("pay-with-wechat").click()
    page.get_by_test_id("confirm-pay").click()
    page.get_by_test_id("payment-result").wait_for()
    run_tasks()


def test_shopper_claims_a_coupon_and_uses_it_at_checkout(page_for, live_server, run_tasks):
    coupon = make_coupon("满100减20", kind="threshold", amount_fen=2000, min_spend_fen=10000)
    make_coupon("无门槛5元", amount_fen=500)
    serum = sku_of(product("玻尿酸保湿精华", price_fen=19900))
    c, page = logged_in_shopper(page_for, live_server)

    page.goto("/m/marketing/")
    card = page.get_by_test_id("coupon-card").filter(has_text="满100减20")
    card.get_by_test_id("claim").click()
    page.get_by_test_id("coupon-card").filter(has_text="满100减20").get_by_test_id(
        "claimed"
    ).wait_for()
    page.get_by_test_id("coupon-card").filter(has_text="无门槛5元").get_by_test_id("claim").click()
    page.get_by_test_id("coupon-card").filter(has_text="无门槛5元").get_by_test_id(
        "claimed"
    ).wait_for()
    held = CustomerCoupon.objects.get(customer=c, coupon=coupon)

    page.goto("/m/marketing/mine/")
    assert page.get_by_test_id("my-coupon").count() == 2

    # checkout preselects the coupon that saves most: ¥199 − ¥20 + ¥10 delivery
    page.goto(f"/m/checkout/?sku={serum.pk}&quantity=1")
    assert page.get_by_test_id("coupon-select").input_value() == held.code
    assert page.get_by_test_id("payable").inner_text() == "¥189.00"
    # switching to no coupon re-prices on the server, and back again
    page.get_by_test_id("coupon-select").select_option("none")
    page.get_by_test_id("payable").filter(has_text="¥209.00").wait_for()
    page.get_by_test_id("coupon-select").select_option(held.code)
    page.get_by_test_id("payable").filter(has_text="¥189.00").wait_for()
    page.get_by_test_id("place-order").click()
    pay_on_the_page(page, run_tasks)

    order = Order.objects.get(customer=c)
    assert (order.status, order.discount_fen, order.paid_fen) == ("paid", 2000, 18900)
    held.refresh_from_db()
    assert held.status == "used" and held.order_id == order.pk
    page.goto("/m/marketing/mine/?state=used")
    page.get_by_test_id("my-coupon").filter(has_text="满100减20").wait_for()


def test_shopper_buys_in_a_flash_sale_from_the_countdown_page(page_for, live_server, run_tasks):
    sku = sku_of(product("秒杀面霜", price_fen=26800))
    sale = make_sale(sku, price_fen=9900, quota=5, limit=1)
    c, page = logged_in_shopper(page_for, live_server)

    page.goto("/m/marketing/flash/")
    clock = page.get_by_test_id("countdown")
    page.wait_for_function(
        "el => /\\d\\d:\\d\\d:\\d\\d/.test(el.textContent)", arg=clock.element_handle()
    )
    first = clock.inner_text()
    page.wait_for_function(
        "([el, was]) => el.textContent !== was", arg=[clock.element_handle(), first]
    )
    item = page.get_by_test_id("flash-item").filter(has_text="秒杀面霜")
    assert item.get_by_test_id("flash-price").inner_text() == "¥99.00"
    item.get_by_test_id("flash-buy").click()
    page.wait_for_url(re.compile(r".*/m/marketing/flash/\d+/buy/"))
    page.get_by_test_id("flash-place").click()
    pay_on_the_page(page, run_tasks)

    order = Order.objects.get(customer=c)
    assert (order.channel, order.status) == ("flash_sale", "paid")
    assert order.lines.get().unit_price_fen - order.lines.get().discount_fen == 9900
    assert sale.items.get().sold == 1
    # the limit is one: the page now says so instead of offering another
    page.goto("/m/marketing/flash/")
    page.get_by_test_id("flash-buy").click()
    assert page.get_by_test_id("flash-place").is_disabled()
