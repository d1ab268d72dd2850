"""End to end in Chromium: a shopper opens a group and pays; two more shoppers, each in their own
browser, open the share link, log in with a texted code, join and pay; the group succeeds and every
page shows it."""

from __future__ import annotations

import pytest
from django.utils import translation

from siyu.groupbuy.models import Group, GroupStatus, MemberStatus
from siyu.mall.sms import ConsoleSmsAdapter
from siyu.orders.models import OrderStatus
from tests.mall.conftest import code_for

from .conftest import make_activity

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def _clean_outbox():
    ConsoleSmsAdapter.clear()
    yield
    ConsoleSmsAdapter.clear()


def zh(text: str) -> str:
    with translation.override("zh-hans"):
        return translation.gettext(text)


def shopper_login(page, phone: str) -> None:
    """From a page that asks to log in: phone, texted code, and back to where it was."""
    page.fill("#phone", phone)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code-status").filter(has_text=phone[-4:]).wait_for()
    page.fill("#code", code_for(phone))
    page.get_by_test_id("login-submit").click()


def fill_address(page, name: str, phone: str) -> None:
    page.fill("input[name=name]", name)
    page.fill("input[name=phone]", phone)
    page.fill("input[name=province]", "上海市")
    page.fill("input[name=city]", "上海市")
    page.fill("input[name=district]", "静安区")
    page.fill("input[name=detail]", "南京西路1515号")


def pay_on_the_pay_page(page, run_tasks) -> None:
    page.wait_for_url("**/pay/")
    page.get_by_test_id("pay-with-wechat").click()
    page.get_by_test_id("confirm-pay").click()
    page.get_by_test_id("payment-result").wait_for()
    run_tasks()  # the dev provider's signed notification reaches the shop


def test_a_group_opened_in_one_browser_is_completed_by_two_shoppers_in_others(page_for, run_tasks):
    activity = make_activity(size=3, group_price_fen=9900, price_fen=19900)

    # the initiator opens the group from the activity page and pays
    first = page_for("zh-CN", **IPHONE)
    first.goto(f"/m/groupbuy/a/{activity.pk}/")
    first.get_by_test_id("login-to-open").click()
    shopper_login(first, "13911110001")
    first.wait_for_url(f"**/m/groupbuy/a/{activity.pk}/")
    assert first.get_by_test_id("group-price").inner_text() == "¥99.00"
    fill_address(first, "团长林", "13911110001")
    first.get_by_test_id("open-group-submit").click()
    pay_on_the_pay_page(first, run_tasks)
    group = Group.objects.get()
    assert group.status == GroupStatus.OPEN

    first.goto(f"/m/groupbuy/g/{group.code}/")
    assert first.get_by_test_id("group-status").inner_text() == "还差 2 人成团！"
    share = first.get_by_test_id("share-url").input_value()
    assert share.endswith(f"/m/groupbuy/g/{group.code}/")
    assert first.get_by_test_id("countdown").inner_text().count(":") == 2
    first.get_by_test_id("poster-link").click()
    first.get_by_test_id("poster-qr").wait_for()

    # two friends open the share link in their own browsers, log in, join and pay
    for n, (name, phone) in enumerate((("王二", "13911110002"), ("赵三", "13911110003"))):
        friend = page_for("zh-CN", **IPHONE)
        friend.goto(share.replace(first.url.split("/m/")[0], ""))
        assert friend.get_by_test_id("member").count() == 1 + n
        friend.get_by_test_id("login-to-join").click()
        shopper_login(friend, phone)
        friend.wait_for_url(f"**/m/groupbuy/g/{group.code}/")
        fill_address(friend, name, phone)
        friend.get_by_test_id("join-group-submit").click()
        pay_on_the_pay_page(friend, run_tasks)

    group.refresh_from_db()
    assert group.status == GroupStatus.SUCCEEDED
    assert sorted(group.members.values_list("status", flat=True)) == [MemberStatus.SUCCEEDED] * 3
    run_tasks()  # the release task: the orders may ship now
    for member in group.members.select_related("order"):
        assert member.order.status == OrderStatus.PAID and member.order.fulfilment_hold == ""

    first.goto(f"/m/groupbuy/g/{group.code}/")
    assert first.get_by_test_id("group-status").inner_text() == zh(
        "Group complete! Your orders are on their way."
    )
    assert first.get_by_test_id("member").count() == 3
