"""End to end in Chromium: a shopper logs in with a texted code, browses, buys, pays with the dev
provider, asks for a refund that an operator approves in the console, and sees it refunded."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy

from siyu.catalog.models import Product
from siyu.orders.models import AfterSale, AfterSaleStatus, Order, OrderStatus
from tests import commerce
from tests.conftest import login

from .conftest import code_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PHONE = "13912345678"


def zh(label) -> str:
    """A status label as the orders app translates it."""
    with translation.override("zh-hans"):
        return str(label)


def shopper_login(page, next_path: str = "/m/") -> None:
    page.goto(f"/m/login/?next={next_path}")
    page.fill("#phone", PHONE)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code-status").filter(has_text=PHONE[-4:]).wait_for()
    page.fill("#code", code_for(PHONE))
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**{next_path}")


@pytest.fixture
def serum(db):
    p = commerce.product("玻尿酸保湿精华", skus=2, price_fen=19900, stock=10)
    Product.objects.filter(pk=p.pk).update(is_featured=True)
    return p


def test_shopper_buys_pays_and_gets_a_refund_the_operator_approves(
    page_for, serum, operator, run_tasks, settings
):
    settings.SIYU_DEV_PAY_REFUND_SECONDS = 0
    page = page_for("zh-CN", **IPHONE)
    shopper_login(page)

    # browse: the featured product, its SKU picker, into the cart
    page.get_by_test_id("product-card").filter(has_text="玻尿酸保湿精华").click()
    page.locator("label.sku", has_text="50ml").click()
    page.get_by_test_id("stock-state").filter(has_text="50ml").wait_for()
    assert page.get_by_test_id("price").inner_text() == "¥209.00"
    page.get_by_test_id("add-to-cart").click()
    page.get_by_test_id("toast").filter(has_text="已加入购物车").wait_for()

    # cart → checkout, adding the first address on the way
    page.get_by_role("link", name=re.compile("购物车")).first.click()
    page.wait_for_url("**/m/cart/")
    assert page.get_by_test_id("cart-total").inner_text() == "¥209.00"
    page.get_by_test_id("go-checkout").click()
    page.get_by_test_id("checkout-address").click()
    page.get_by_test_id("add-address").click()
    page.fill("#receiver_name", "林小雨")
    page.fill("#receiver_phone", PHONE)
    page.fill("#province", "上海市")
    page.fill("#city", "上海市")
    page.fill("#district", "静安区")
    page.fill("#detail", "南京西路1515号 12楼")
    page.get_by_test_id("save-address").click()
    page.wait_for_url("**/m/checkout/**")
    assert "林小雨" in page.get_by_test_id("checkout-address").inner_text()
    assert page.get_by_test_id("payable").inner_text() == "¥209.00"
    page.get_by_test_id("place-order").click()

    # pay with the dev provider; its signed notification marks the order paid
    page.wait_for_url("**/pay/")
    page.get_by_test_id("pay-with-wechat").click()
    page.get_by_test_id("confirm-pay").click()
    page.get_by_test_id("payment-result").wait_for()
    run_tasks()
    page.get_by_test_id("back-to-order").click()
    assert page.get_by_test_id("order-status").inner_text() == zh(OrderStatus.PAID.label)
    order = Order.objects.get()
    assert order.status == OrderStatus.PAID and order.paid_fen == 20900

    # the shopper asks for a refund of the line
    page.get_by_test_id("line-after-sales").click()
    page.get_by_test_id("reason").select_option("not_wanted")
    page.get_by_test_id("submit-after-sale").click()
    page.wait_for_url("**/m/after-sales/*/")
    assert page.get_by_test_id("case-status").inner_text() == zh(AfterSaleStatus.REQUESTED.label)
    case = AfterSale.objects.get()
    assert case.order_id == order.pk

    # the operator approves it in the console
    console = page_for("zh-CN")
    login(console, "operator")
    console.goto("/console/orders/after-sales/")
    row = console.get_by_test_id(f"after-sale-{case.pk}")
    row.get_by_role("button", name=zh(gettext_lazy("Approve"))).click()
    console.get_by_test_id(f"after-sale-{case.pk}").filter(
        has_text=zh(AfterSaleStatus.REFUNDING.label)
    ).wait_for()
    run_tasks()  # the refund goes to the provider, settles, and its notification comes back
    run_tasks()

    page.goto(f"/m/orders/{order.pk}/")
    assert page.get_by_test_id("order-status").inner_text() == zh(OrderStatus.REFUNDED.label)
    assert page.get_by_test_id("order-refunded").inner_text() == "¥209.00"
    assert page.get_by_test_id("case-status").inner_text() == zh(AfterSaleStatus.REFUNDED.label)


def test_english_shopper_sees_the_mall_in_english(page_for, serum):
    page = page_for("en-US", **IPHONE)
    page.goto("/m/")
    assert page.get_by_test_id("tab-cart").inner_text().strip().endswith("Cart")
    page.get_by_test_id("product-card").first.click()
    assert page.get_by_test_id("add-to-cart").inner_text() == "Add to cart"
    assert page.get_by_test_id("add-to-cart").is_disabled()  # no spec chosen yet
    page.locator("label.sku", has_text="30ml").click()
    page.get_by_test_id("stock-state").filter(has_text="Only 10 left").wait_for()
    page.get_by_test_id("add-to-cart").click()
    page.wait_for_url("**/m/login/**")  # buying needs a login; it comes back here afterwards
    assert "next=%2Fm%2Fp%2F" in page.url
