"""End to end in Chromium: a customer buys through a distributor's share link; the distributor sees
the sale as a pending commission in the H5 distributor centre, and as settled once the order is
completed and its after-sales window has passed (time advanced, the settlement job run)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from siyu.core.access import Actor
from siyu.customers.services import ContactInput, register_contact
from siyu.distribution import services
from siyu.distribution.models import Commission, CommissionStatus
from siyu.mall.sms import ConsoleSmsAdapter
from siyu.orders import services as orders
from siyu.orders.models import Order, OrderStatus
from tests import commerce
from tests.mall.conftest import code_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
SYSTEM = Actor.system("test")
DISTRIBUTOR_PHONE = "13922220001"
BUYER_PHONE = "13922220002"


@pytest.fixture(autouse=True)
def _clean_outbox():
    ConsoleSmsAdapter.clear()
    yield
    ConsoleSmsAdapter.clear()


def zh(label) -> str:
    with translation.override("zh-hans"):
        return str(label)


def shopper_login(page, phone: str, next_path: str) -> None:
    page.goto(f"/m/login/?next={next_path}")
    page.fill("#phone", phone)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code-status").filter(has_text=phone[-4:]).wait_for()
    page.fill("#code", code_for(phone))
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**{next_path}")


@pytest.mark.usefixtures("dev_pay")
def test_a_link_sale_shows_as_pending_then_settled_in_the_distributor_centre(page_for, run_tasks):
    product = commerce.product("修护面霜 50g", price_fen=26800, stock=10)
    seller = register_contact(
        ContactInput(source="mall", phone=DISTRIBUTOR_PHONE, name="陈小美"), actor=SYSTEM
    ).customer
    distributor = services.add_distributor(seller.pk, actor=SYSTEM, display_name="小美的好物")

    # the buyer logs in and opens the distributor's share link, then buys from the shop
    buyer = page_for("zh-CN", **IPHONE)
    shopper_login(buyer, BUYER_PHONE, f"/m/distribution/s/{distributor.code}/")
    buyer.goto(f"/m/p/{product.pk}/")
    buyer.locator("label.sku", has_text="30ml").click()
    buyer.get_by_test_id("stock-state").filter(has_text="30ml").wait_for()
    buyer.get_by_test_id("buy-now").click()
    buyer.wait_for_url("**/m/checkout/**")
    buyer.get_by_test_id("checkout-address").click()
    buyer.get_by_test_id("add-address").click()
    buyer.fill("#receiver_name", "林小雨")
    buyer.fill("#receiver_phone", BUYER_PHONE)
    buyer.fill("#province", "上海市")
    buyer.fill("#city", "上海市")
    buyer.fill("#district", "静安区")
    buyer.fill("#detail", "南京西路1515号 12楼")
    buyer.get_by_test_id("save-address").click()
    buyer.wait_for_url("**/m/checkout/**")
    buyer.get_by_test_id("place-order").click()
    buyer.wait_for_url("**/pay/")
    buyer.get_by_test_id("pay-with-wechat").click()
    buyer.get_by_test_id("confirm-pay").click()
    buyer.get_by_test_id("payment-result").wait_for()
    run_tasks()

    order = Order.objects.get()
    assert order.status == OrderStatus.PAID
    assert (order.credited_kind, order.credited_id) == ("distributor", distributor.pk)
    commission = Commission.objects.get(order=order, level=1)
    assert commission.status == CommissionStatus.PENDING

    # the distributor sees the sale, pending, in their centre
    centre = page_for("zh-CN", **IPHONE)
    shopper_login(centre, DISTRIBUTOR_PHONE, "/m/distribution/")
    row = centre.get_by_test_id(f"commission-{commission.pk}")
    assert row.get_by_test_id("commission-status").inner_text() == zh(
        CommissionStatus.PENDING.label
    )
    assert "修护面霜" in row.inner_text()

    # shipped, received; then the after-sales window passes and the settlement job runs
    orders.ship(order.pk, actor=SYSTEM, carrier="顺丰速运", tracking_no="SF2026112300001")
    orders.confirm_receipt(order.pk, actor=Actor.for_customer(order.customer_id))
    commission.refresh_from_db()
    assert commission.status == CommissionStatus.FROZEN
    assert services.settle_due(now=timezone.now() + timedelta(days=30)) == 1

    centre.reload()
    row = centre.get_by_test_id(f"commission-{commission.pk}")
    assert row.get_by_test_id("commission-status").inner_text() == zh(
        CommissionStatus.SETTLED.label
    )
    assert (
        centre.get_by_test_id("earn-available")
        .inner_text()
        .startswith(commerce_yuan(commission.net_fen))
    )


def commerce_yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"
