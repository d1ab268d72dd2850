"""End to end in Chromium: a shopper opens the member centre from the member page, sees their
points, history and tier progress, and buys the annual card through the normal checkout, paying
with the dev provider; the card is valid at once and its benefits show."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.customers.services import ContactInput, register_contact
from siyu.mall.services import AddressInput, save_address
from siyu.membership.models import MemberCard
from tests.mall.conftest import code_for

from .conftest import buy, complete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
PHONE = "13912345679"
TEXT = {
    "zh-CN": {"missing": "再消费", "valid": "有效期至"},
    "en-US": {"missing": "more to reach", "valid": "valid until"},
}


def test_member_centre_shows_points_and_tier_and_sells_the_card_through_checkout(
    page_for, browser_locale, goods, tiers, card_plan, run_tasks
):
    text = TEXT[browser_locale]
    customer = register_contact(
        ContactInput(source="mall", name="林小雨", phone=PHONE, touch_ref="browser-member"),
        actor=Actor.system("test"),
    ).customer
    save_address(
        AddressInput(
            "林小雨", PHONE, "上海市", "上海市", "静安区", "南京西路1515号", is_default=True
        ),
        actor=Actor.for_customer(customer.pk),
    )
    complete(buy(customer, goods, 2))  # 398 points, ¥398 of the ¥500 for the first tier

    page = page_for(browser_locale, **IPHONE)
    page.goto("/m/login/?next=/m/me/")
    page.fill("#phone", PHONE)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code-status").filter(has_text=PHONE[-4:]).wait_for()
    page.fill("#code", code_for(PHONE))
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/m/me/")

    # the member page's panel leads to the member centre
    assert "398" in page.get_by_test_id("membership-panel").inner_text()
    page.get_by_test_id("membership-panel").click()
    page.wait_for_url("**/m/membership/")
    assert page.get_by_test_id("points-balance").inner_text() == "398"
    assert text["missing"] in page.get_by_test_id("tier-missing").inner_text()
    assert page.get_by_test_id("tier-progress").get_attribute("aria-valuenow") == "79"

    # the full points history
    page.goto("/m/membership/points/")
    entries = page.get_by_test_id("points-entry")
    assert entries.count() == 1 and "+398" in entries.first.inner_text()

    # buy the card through the normal checkout, paying with the dev provider
    page.goto("/m/membership/")
    page.get_by_test_id(f"buy-card-{card_plan.pk}").click()
    page.wait_for_url("**/m/checkout/**")
    assert page.get_by_test_id("payable").inner_text() == "¥365.00"
    page.get_by_test_id("place-order").click()
    page.wait_for_url("**/pay/")
    page.get_by_test_id("pay-with-wechat").click()
    page.get_by_test_id("confirm-pay").click()
    page.get_by_test_id("payment-result").wait_for()
    run_tasks()  # the provider's notification: paid, the card activates and is delivered

    card = MemberCard.objects.get(customer=customer)
    assert card.plan == card_plan and card.status == "active"
    page.goto("/m/membership/")
    assert text["valid"] in page.get_by_test_id("card-valid").inner_text()
    assert page.get_by_test_id("benefits").is_visible()
    page.goto(f"/m/orders/{card.order_id}/")
    page.get_by_test_id("order-status").wait_for()
