"""The shopper's side: pay entry, dev cashier, result page, notification endpoint guards."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from siyu.payments.models import DevTrade, Payment
from siyu.payments.states import PaymentStatus


@pytest.fixture
def shopper_client(db, customer):
    from importlib import import_module

    from django.conf import settings
    from django.test import Client

    client = Client()
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["customer_id"] = customer.pk
    store.save()
    client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE] = store.session_key
    return client


def test_anonymous_shoppers_log_in_before_paying(client, make_order):
    order = make_order()
    response = client.get(f"/m/payments/orders/{order.pk}/pay/")
    assert response.status_code == 302 and "/m/login/" in response["Location"]
    assert not Payment.objects.exists()


def test_paying_in_a_mobile_browser_goes_through_the_cashier_to_the_result_page(
    shopper_client, make_order, published, committed, work
):
    order = make_order(6600)
    entry = shopper_client.get(f"/m/payments/orders/{order.pk}/pay/?next=/m/orders/{order.pk}/")
    assert entry.status_code == 302
    cashier_url = entry["Location"]
    params = parse_qs(urlparse(cashier_url).query)
    payment = Payment.objects.get()
    assert payment.method == "h5" and payment.return_url == f"/m/orders/{order.pk}/"
    assert params["redirect_url"] == [
        f"http://testserver/m/payments/result/{payment.out_trade_no}/"
    ]
    cashier = shopper_client.get(cashier_url)
    assert "¥66.00" in cashier.content.decode()
    with committed():
        paid = shopper_client.post(cashier_url, {"action": "pay"})
    assert paid["Location"] == f"http://testserver/m/payments/result/{payment.out_trade_no}/"

    status_url = f"/m/payments/result/{payment.out_trade_no}/status/"
    waiting = shopper_client.get(status_url).content.decode()
    assert 'data-status="pending"' in waiting and "hx-trigger" in waiting
    work()  # the notification arrives
    done = shopper_client.get(status_url).content.decode()
    assert 'data-status="succeeded"' in done and "hx-trigger" not in done
    assert f'href="/m/orders/{order.pk}/"' in done


def test_inside_wechat_the_page_runs_wechats_payment_sheet(shopper_client, make_order):
    order = make_order()
    page = shopper_client.get(
        f"/m/payments/orders/{order.pk}/pay/",
        HTTP_USER_AGENT="Mozilla/5.0 (iPhone) MicroMessenger/8.0.47",
    )
    # the dev provider stands in for WeChat's sheet with its cashier; WeChat Pay renders the page
    assert page.status_code == 302 and "/m/payments/dev/cashier/" in page["Location"]
    assert Payment.objects.get().method == "jsapi"


def test_the_result_page_asks_the_provider_when_the_notification_is_late(
    shopper_client, make_order, published
):
    from siyu.payments import devpay

    order = make_order()
    shopper_client.get(f"/m/payments/orders/{order.pk}/pay/")
    payment = Payment.objects.get()
    devpay.pay(DevTrade.objects.get().prepay_id)  # paid; the notification is still on its way
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    status = shopper_client.get(f"/m/payments/result/{payment.out_trade_no}/status/")
    assert 'data-status="succeeded"' in status.content.decode()
    assert Payment.objects.get().last_synced_at is not None


def test_the_cashier_ignores_a_redirect_to_another_site(shopper_client, make_order):
    order = make_order()
    shopper_client.get(f"/m/payments/orders/{order.pk}/pay/")
    trade = DevTrade.objects.get()
    url = f"/m/payments/dev/cashier/?prepay_id={trade.prepay_id}&redirect_url=https://evil.example/"
    response = shopper_client.post(url, {"action": "cancel"})
    assert response["Location"] == f"/m/payments/result/{trade.out_trade_no}/"


def test_without_the_dev_provider_its_cashier_and_endpoint_do_not_exist(
    client, settings, make_order, shopper_client
):
    order = make_order()
    shopper_client.get(f"/m/payments/orders/{order.pk}/pay/")
    settings.SIYU_DEV_PAY_ALLOWED = False
    prepay = DevTrade.objects.get().prepay_id
    assert client.get(f"/m/payments/dev/cashier/?prepay_id={prepay}").status_code == 404
    notify = client.post("/m/payments/notify/dev/", data="{}", content_type="application/json")
    assert notify.status_code == 404 and notify.json() == {
        "code": "FAIL",
        "message": "unknown endpoint",
    }
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_the_notification_endpoint_only_takes_posts(client, db):
    assert client.get("/m/payments/notify/wechat/").status_code == 405


def test_the_mini_program_gets_signed_payment_parameters_and_follows_the_status(
    shopper_client, make_order, client, published, committed, work
):
    from siyu.payments import devpay

    order = make_order(2500)
    response = shopper_client.post(
        f"/api/v1/payments/orders/{order.pk}/pay",
        data={"method": "miniprogram", "openid": "o-mini-123"},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["amount_fen"] == 2500 and body["jsapi_params"]["signType"] == "RSA"
    assert body["jsapi_params"]["package"].startswith("prepay_id=wx")
    status_url = f"/api/v1/payments/orders/{order.pk}/status"
    assert shopper_client.get(status_url).json()["status"] == "pending"
    with committed():
        devpay.pay(body["jsapi_params"]["package"].removeprefix("prepay_id="))
    work()
    assert shopper_client.get(status_url).json()["paid"] is True
    # without the shopper's session there is nothing to see
    assert client.get(status_url).status_code == 401


def test_a_shopper_cannot_pay_or_follow_another_shoppers_order(shopper_client, make_order):
    from siyu.customers.models import Customer

    order = make_order(buyer=Customer.objects.create(name="别人", source="mall"))
    pay = shopper_client.post(
        f"/api/v1/payments/orders/{order.pk}/pay",
        data={"method": "h5"},
        content_type="application/json",
    )
    assert pay.status_code == 404
    assert shopper_client.get(f"/api/v1/payments/orders/{order.pk}/status").status_code == 404
    assert not Payment.objects.exists()
