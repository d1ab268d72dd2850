"""The dev provider behaves like WeChat Pay: cashier, signed+encrypted notifications on WeChat's
retry schedule, refunds that settle later — all through the real notification code path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.payments import devpay, services
from siyu.payments.models import (
    DevNotification,
    DevTrade,
    NotificationLog,
    Payment,
)
from siyu.payments.states import NotificationStatus, PaymentStatus


@pytest.fixture
def shopper(customer):
    return Actor.for_customer(customer.pk)


def _prepay(payment) -> str:
    return DevTrade.objects.get(out_trade_no=payment.out_trade_no).prepay_id


def _pay_in_cashier(client, launch_url: str):
    page = client.get(launch_url)
    assert page.status_code == 200
    assert 'data-testid="dev-cashier"' in page.content.decode()
    return client.post(launch_url, {"action": "pay"})


def test_shopper_pays_on_the_dev_cashier_and_the_signed_notification_marks_the_order_paid(
    client, make_order, shopper, published, committed, work
):
    order = make_order(12900)
    start = services.start_payment(order.pk, method="h5", actor=shopper, return_url="/m/orders/1/")
    assert start.launch.redirect_url.startswith("/m/payments/dev/cashier/?prepay_id=wx")

    with committed():
        answer = _pay_in_cashier(client, start.launch.redirect_url)
    assert answer.status_code == 302 and answer["Location"] == "/m/orders/1/"
    assert Payment.objects.get().status == PaymentStatus.PENDING  # not until notified

    work()  # the dev provider delivers its notification

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.applied_to_order and payment.transaction_id.startswith("4200")
    order.refresh_from_db()
    assert order.status == "paid" and order.paid_fen == 12900
    assert [e.payment_id for e in published.payments] == [payment.pk]
    note = NotificationLog.objects.get()
    assert (note.status, note.event_type, note.http_status) == (
        NotificationStatus.PROCESSED,
        "TRANSACTION.SUCCESS",
        204,
    )
    assert "payer" not in note.resource  # the shopper's openid is not kept in the log
    assert DevNotification.objects.get().state == "delivered"
    assert list(payment.history.values_list("to_status", flat=True)) == ["pending", "succeeded"]


def test_pressing_pay_twice_reuses_the_open_attempt(make_order, shopper):
    order = make_order()
    first = services.start_payment(order.pk, method="h5", actor=shopper)
    again = services.start_payment(order.pk, method="h5", actor=shopper)
    assert again.reused and again.payment.pk == first.payment.pk
    assert again.launch.redirect_url == first.launch.redirect_url
    assert DevTrade.objects.count() == 1


def test_switching_to_in_wechat_payment_closes_the_h5_attempt_first(make_order, shopper):
    order = make_order()
    h5 = services.start_payment(order.pk, method="h5", actor=shopper)
    jsapi = services.start_payment(order.pk, method="jsapi", actor=shopper)
    assert jsapi.payment.pk != h5.payment.pk
    assert Payment.objects.get(pk=h5.payment.pk).status == PaymentStatus.CLOSED
    assert DevTrade.objects.get(out_trade_no=h5.payment.out_trade_no).state == "CLOSED"
    params = jsapi.launch.jsapi_params
    assert params["package"] == f"prepay_id={jsapi.payment.prepay_id}"
    assert params["signType"] == "RSA" and params["paySign"]


def test_a_shopper_cannot_pay_someone_elses_order(make_order, customer):
    from siyu.core.errors import NotFound
    from siyu.customers.models import Customer

    other = Customer.objects.create(name="路人", source="mall")
    order = make_order(buyer=other)
    with pytest.raises(NotFound):
        services.start_payment(order.pk, method="h5", actor=Actor.for_customer(customer.pk))


def test_an_order_that_is_no_longer_pending_cannot_be_paid(make_order, shopper):
    from siyu.payments.errors import PaymentNotAllowed

    order = make_order(status="cancelled")
    with pytest.raises(PaymentNotAllowed):
        services.start_payment(order.pk, method="h5", actor=shopper)


def test_unanswered_notifications_are_retried_on_wechat_pays_schedule(
    make_order, shopper, monkeypatch
):
    from django_tasks_db.models import DBTaskResult

    from siyu.payments import views_h5

    order = make_order()
    start = services.start_payment(order.pk, method="h5", actor=shopper)
    trade = devpay.pay(_prepay(start.payment))
    note = DevNotification.objects.get()
    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        return services.NotificationAnswer(503, "maintenance")

    monkeypatch.setattr(views_h5.services, "receive_notification", down)
    delays = []
    for attempt in range(len(devpay.RETRY_SCHEDULE) + 1):
        before = timezone.now()
        state = devpay.deliver(note.pk, attempt)
        note.refresh_from_db()
        if state == "pending":
            delays.append(round((note.next_attempt_at - before).total_seconds()))
    assert state == "abandoned" and note.attempts == 16 and len(calls) == 16
    assert (
        delays == [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600] + [10800] * 3 + [21600] * 2
    )
    assert sum(delays) == 24 * 3600 + 4 * 60  # WeChat Pay gives up after 24h04m
    # each retry was persisted as a deferred task
    deferred = DBTaskResult.objects.filter(task_path__endswith="deliver_dev_notification")
    assert deferred.filter(run_after__gt=timezone.now()).count() >= 15
    # the stale attempt number cannot be delivered twice
    assert devpay.deliver(note.pk, 3) == "skipped"
    assert trade.state == "SUCCESS"


def test_a_retry_delivers_once_the_endpoint_answers(make_order, shopper, monkeypatch, published):
    from siyu.payments import views_h5

    order = make_order()
    start = services.start_payment(order.pk, method="h5", actor=shopper)
    devpay.pay(_prepay(start.payment))
    note = DevNotification.objects.get()
    real = views_h5.services.receive_notification
    monkeypatch.setattr(
        views_h5.services, "receive_notification", lambda *a, **k: services.NotificationAnswer(500)
    )
    assert devpay.deliver(note.pk, 0) == "pending"
    monkeypatch.setattr(views_h5.services, "receive_notification", real)
    assert devpay.deliver(note.pk, 1) == "delivered"
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert len(published.payments) == 1


def test_reconciliation_finds_a_payment_whose_notification_never_came(
    make_order, shopper, published
):
    order = make_order()
    start = services.start_payment(order.pk, method="h5", actor=shopper)
    devpay.pay(_prepay(start.payment))
    DevNotification.objects.update(state="abandoned")  # WeChat Pay gave up

    assert services.reconcile().payments_checked == 0  # too young to ask about
    report = services.reconcile(now=timezone.now() + timedelta(minutes=6))
    assert (report.payments_checked, report.payments_changed) == (1, 1)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.history.last().actor_label == "reconciliation"
    assert len(published.payments) == 1
    # a second pass finds nothing left to do
    assert services.reconcile(now=timezone.now() + timedelta(minutes=20)).payments_checked == 0


def test_reconciliation_closes_an_attempt_that_expired_unpaid(make_order, shopper):
    order = make_order()
    start = services.start_payment(order.pk, method="h5", actor=shopper)
    later = start.payment.expires_at + timedelta(minutes=10)
    Payment.objects.filter(pk=start.payment.pk).update(expires_at=timezone.now())
    services.reconcile(now=later)
    assert Payment.objects.get().status == PaymentStatus.CLOSED
    assert DevTrade.objects.get().state == "CLOSED"


@pytest.mark.django_db(transaction=True)
def test_notifications_can_travel_over_http_to_a_running_server(
    live_server, settings, make_order, shopper, published
):
    settings.SIYU_DEV_PAY_NOTIFY_URL = f"{live_server.url}/m/payments/notify/dev/"
    order = make_order()
    start = services.start_payment(order.pk, method="h5", actor=shopper)
    devpay.pay(_prepay(start.payment))  # committed: the delivery task is queued
    note = DevNotification.objects.get()
    assert note.notify_url == settings.SIYU_DEV_PAY_NOTIFY_URL
    assert devpay.deliver(note.pk, 0) == "delivered"
    note.refresh_from_db()
    assert note.last_status == 204
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert NotificationLog.objects.get().remote_addr == "127.0.0.1"
