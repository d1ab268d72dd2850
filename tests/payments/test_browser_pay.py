"""A shopper pays on the phone-sized pages with the dev provider and sees the payment confirmed."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _log_in(page, live_server, customer) -> None:
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["customer_id"] = customer.pk
    store.save()
    page.context.add_cookies(
        [
            {
                "name": settings.SIYU_SHOPPER_SESSION_COOKIE,
                "value": store.session_key,
                "url": live_server.url,
            }
        ]
    )


def test_a_shopper_pays_on_the_dev_cashier_and_sees_it_confirmed(
    page_for, browser_locale, live_server, make_order, customer, published, run_tasks
):
    zh = browser_locale.startswith("zh")
    order = make_order(8800)
    page = page_for(browser_locale, **IPHONE)
    _log_in(page, live_server, customer)

    page.goto(f"/m/payments/orders/{order.pk}/pay/?next=/m/me/")
    cashier = page.get_by_test_id("dev-cashier")
    assert "¥88.00" in cashier.inner_text()
    assert page.get_by_test_id("dev-banner").is_visible()
    page.get_by_test_id("confirm-pay").click()

    status = page.get_by_test_id("result-status")
    status.wait_for()
    assert status.get_attribute("data-status") == "pending"
    waiting = "正在向微信支付确认支付结果" if zh else "Confirming your payment with WeChat Pay"
    assert waiting in status.inner_text()

    run_tasks()  # the dev provider's signed notification reaches our endpoint

    page.locator('[data-testid="result-status"][data-status="succeeded"]').wait_for()
    assert ("支付成功" if zh else "Payment successful") in status.inner_text()
    order.refresh_from_db()
    assert order.status == "paid" and len(published.payments) == 1
    page.get_by_test_id("back-to-order").click()
    page.wait_for_url("**/m/me/")
