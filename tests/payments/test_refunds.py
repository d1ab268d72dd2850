"""Refunds: approved order refunds carried out once, money for closed orders returned automatically,
refund state tracked until the provider confirms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from siyu.core import events
from siyu.core.access import Actor
from siyu.orders.events import OrderCancelled, RefundRequested
from siyu.payments import devpay, services
from siyu.payments.models import DevRefund, DevTrade, NotificationLog, Payment, Refund
from siyu.payments.states import NotificationStatus, PaymentStatus, RefundStatus


def _prepay(payment) -> str:
    return DevTrade.objects.get(out_trade_no=payment.out_trade_no).prepay_id


@pytest.fixture
def paid_order(make_order, customer, published, committed, work):
    order = make_order(9900)
    start = services.start_payment(order.pk, method="h5", actor=Actor.for_customer(customer.pk))
    with committed():
        devpay.pay(_prepay(start.payment))
    work()
    order.refresh_from_db()
    assert order.status == "paid"
    return order


def _request_refund(order, key: str, amount: int, reason: str = "不想要了"):
    """What orders does when an operator approves a refund: publish in its transaction."""
    with transaction.atomic():
        events.publish(RefundRequested(order.pk, order.customer_id, key, amount, reason))


def test_an_approved_refund_is_carried_out_and_confirmed_once(
    paid_order, published, committed, work
):
    with committed():
        _request_refund(paid_order, "RF-SO1-1", 3000)
    refund = Refund.objects.get()
    assert (refund.status, refund.out_refund_no) == (RefundStatus.PENDING, "RRF-SO1-1")

    work()  # sent to the provider, settled, notification delivered

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.refund_id.startswith("50")
    payment = Payment.objects.get()
    assert payment.refunded_fen == 3000 and payment.status == PaymentStatus.SUCCEEDED
    assert [(e.refund_key, e.amount_fen) for e in published.refunds] == [("RF-SO1-1", 3000)]
    assert list(refund.history.values_list("to_status", flat=True)) == [
        "pending",
        "processing",
        "succeeded",
    ]
    refund_notes = NotificationLog.objects.filter(event_type="REFUND.SUCCESS")
    assert refund_notes.get().status == NotificationStatus.PROCESSED

    # Orders retries the same request, the task runs again, the console asks again: nothing new.
    with committed():
        _request_refund(paid_order, "RF-SO1-1", 3000)
    services.submit_refund(refund.pk)
    services.sync_refund(refund.pk, actor=Actor.system("test"))
    work()
    assert Refund.objects.count() == 1 and DevRefund.objects.count() == 1
    assert len(published.refunds) == 1


def test_the_last_refund_marks_the_payment_refunded(paid_order, committed, work):
    with committed():
        _request_refund(paid_order, "RF-a", 4900)
        _request_refund(paid_order, "RF-b", 5000)
    work()
    payment = Payment.objects.get()
    assert payment.refunded_fen == 9900 and payment.status == PaymentStatus.REFUNDED


def test_refunds_beyond_what_was_paid_are_refused_with_the_approval(paid_order):
    from siyu.payments.errors import RefundExceedsPayment

    _request_refund(paid_order, "RF-1", 9000)
    with pytest.raises(RefundExceedsPayment):
        _request_refund(paid_order, "RF-2", 1000)
    assert Refund.objects.count() == 1


def test_a_refund_for_an_order_never_paid_here_is_refused(make_order):
    from siyu.payments.errors import NothingToRefund

    order = make_order(status="paid")
    with pytest.raises(NothingToRefund):
        _request_refund(order, "RF-x", 100)


def test_a_refund_the_provider_refuses_fails_and_orders_is_told(
    paid_order, published, committed, work
):
    with committed():
        _request_refund(paid_order, "RF-too-much", 9900)
    # the merchant account refunded it elsewhere in the meantime: the provider has nothing left
    trade = DevTrade.objects.get()
    DevRefund.objects.create(
        out_refund_no="R-elsewhere", refund_id="50x", trade=trade, amount_fen=9900
    )
    work()
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.FAILED and "退款金额超过" in refund.last_error
    assert [e.refund_key for e in published.refund_failures] == ["RF-too-much"]


def test_a_busy_provider_is_retried_with_the_same_refund_number(
    paid_order, committed, work, monkeypatch
):
    from siyu.payments.errors import ProviderUnavailable

    real = devpay.API["refund"]
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["out_refund_no"])
        if len(calls) == 1:
            raise ProviderUnavailable(provider_code="SYSTEM_ERROR", http_status=500)
        return real(**kwargs)

    monkeypatch.setitem(devpay.API, "refund", flaky)
    with committed():
        _request_refund(paid_order, "RF-retry", 900)
    work()
    refund = Refund.objects.get()
    assert refund.status == RefundStatus.PENDING and "SYSTEM_ERROR" in refund.last_error
    assert refund.next_attempt_at > timezone.now()
    services.reconcile(now=refund.next_attempt_at + timedelta(minutes=2))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert calls == ["RRF-retry", "RRF-retry"]


def test_money_for_a_cancelled_order_is_refunded_automatically(
    make_order, customer, published, committed, work
):
    order = make_order(5600)
    start = services.start_payment(order.pk, method="h5", actor=Actor.for_customer(customer.pk))
    # the order times out while the shopper still has WeChat's payment sheet open
    order.status = "cancelled"
    order.save(update_fields=["status"])
    with committed():
        devpay.pay(_prepay(start.payment))
    work()

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REFUNDED and not payment.applied_to_order
    refund = Refund.objects.get()
    assert (refund.origin, refund.status, refund.amount_fen) == ("unapplied", "succeeded", 5600)
    assert refund.refund_key == f"unapplied-{payment.out_trade_no}"
    assert published.payments == []  # the order never took it
    assert published.refunds == []  # orders never asked for this refund
    assert list(payment.history.values_list("to_status", flat=True)) == [
        "pending",
        "received_closed",
        "refunded",
    ]
    order.refresh_from_db()
    assert order.status == "cancelled" and order.paid_fen == 0


def test_a_second_payment_for_an_already_paid_order_is_refunded(
    make_order, customer, published, committed, work
):
    """Paid through two attempts (an H5 page left open): the order takes one, the other goes back."""
    shopper = Actor.for_customer(customer.pk)
    order = make_order(1800)
    first = services.start_payment(order.pk, method="h5", actor=shopper)
    first_prepay = _prepay(first.payment)
    # the first attempt was closed here while the shopper's H5 page stayed open at WeChat
    Payment.objects.filter(pk=first.payment.pk).update(status=PaymentStatus.CLOSED)
    second = services.start_payment(order.pk, method="h5", actor=shopper)
    with committed():
        devpay.pay(_prepay(second.payment))
        devpay.pay(first_prepay)
    work()
    statuses = dict(Payment.objects.values_list("pk", "status"))
    assert statuses == {second.payment.pk: "succeeded", first.payment.pk: "refunded"}
    assert len(published.payments) == 1
    assert Refund.objects.get().origin == "unapplied"


def test_cancelling_an_order_closes_its_open_attempt(make_order, customer, committed, work):
    order = make_order()
    start = services.start_payment(order.pk, method="h5", actor=Actor.for_customer(customer.pk))
    with committed(), transaction.atomic():
        events.publish(OrderCancelled(order.pk, order.customer_id, "timeout"))
    work()
    assert Payment.objects.get().status == PaymentStatus.CLOSED
    assert DevTrade.objects.get(out_trade_no=start.payment.out_trade_no).state == "CLOSED"
