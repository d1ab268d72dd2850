"""Payments with the real orders service: checkout → notification → paid; after-sales refund →
provider → RefundSucceeded → refunded; a late payment for a timed-out order goes back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from siyu.core.access import Actor
from siyu.orders.models import AfterSale, OrderStatus
from siyu.orders.services import expire_order, refund_order
from siyu.payments import devpay, services
from siyu.payments.models import DevTrade, NotificationLog, Payment, Refund
from siyu.payments.states import PaymentStatus, RefundStatus
from tests import commerce


@pytest.fixture
def placed(db):
    sku = commerce.sku_of(commerce.product(stock=5))
    shopper = commerce.customer()
    return commerce.place(shopper, [(sku, 2)]), sku


def test_an_order_is_paid_by_the_notification_and_refunded_through_after_sales(
    placed, client, operator, committed, work
):
    order, _sku = placed
    start = services.start_payment(
        order.pk, method="h5", actor=Actor.for_customer(order.customer_id)
    )
    assert start.payment.expires_at == order.payment_deadline  # WeChat stops taking money then
    with committed():
        client.post(start.launch.redirect_url, {"action": "pay"})
    work()  # the dev provider's notification reaches our endpoint; orders marks the order paid

    order.refresh_from_db()
    payment = Payment.objects.get()
    assert (order.status, order.paid_fen, order.payment_id) == (
        OrderStatus.PAID,
        order.payable_fen,
        payment.pk,
    )
    assert order.transaction_id == payment.transaction_id
    assert NotificationLog.objects.get().status == "processed"

    with committed():
        case = refund_order(order.pk, actor=Actor.for_user(operator), note="缺货")
    refund = Refund.objects.get()
    assert (refund.refund_key, refund.amount_fen) == (case.refund_key, order.payable_fen)
    work()  # sent to the provider, settled, REFUND.SUCCESS delivered, orders told

    refund.refresh_from_db()
    case = AfterSale.objects.get(pk=case.pk)
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and case.status == "refunded"
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, order.paid_fen)
    assert Payment.objects.get().status == PaymentStatus.REFUNDED


def test_money_for_an_order_that_timed_out_goes_back_whichever_news_comes_first(
    placed, committed, work
):
    order, sku = placed
    start = services.start_payment(
        order.pk, method="h5", actor=Actor.for_customer(order.customer_id)
    )
    with committed():  # the unpaid timeout cancels it: payments is told to close the attempt...
        assert expire_order(order.pk, now=order.payment_deadline + timedelta(seconds=1))
    with committed():  # ...but the shopper's WeChat page was still open, and they paid
        devpay.pay(DevTrade.objects.get(out_trade_no=start.payment.out_trade_no).prepay_id)
    work()

    order.refresh_from_db()
    assert (order.status, order.paid_fen) == (OrderStatus.CANCELLED, 0)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REFUNDED and not payment.applied_to_order
    refund = Refund.objects.get()
    assert (refund.origin, refund.status) == ("unapplied", RefundStatus.SUCCEEDED)
    assert commerce.stock_of(sku).reserved == 0
