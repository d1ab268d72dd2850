"""The demo's payments match its orders."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from siyu.core.demodata import DemoContext
from siyu.payments import demo
from siyu.payments.models import Payment, Refund


def test_demo_payments_pay_the_online_orders_and_refunds_match(db, make_order):
    now = timezone.now()
    paid = make_order(5000, status="completed")
    refunded = make_order(3000, status="refunded")
    store_sale = make_order(2000, status="completed")
    from siyu.orders.models import Order

    Order.objects.filter(pk=paid.pk).update(
        paid_fen=5000, placed_at=now - timedelta(days=3, hours=1), paid_at=now - timedelta(days=3)
    )
    Order.objects.filter(pk=refunded.pk).update(
        paid_fen=3000, refunded_fen=3000, paid_at=now - timedelta(days=9)
    )
    Order.objects.filter(pk=store_sale.pk).update(
        paid_fen=2000, paid_at=now - timedelta(days=1), channel="store"
    )

    demo.build(DemoContext(seed=1, customers=0))

    payments = {p.order_id: p for p in Payment.objects.all()}
    assert set(payments) == {paid.pk, refunded.pk}  # the store sale was paid at the till
    assert payments[paid.pk].status == "succeeded" and payments[paid.pk].applied_to_order
    assert payments[refunded.pk].status == "refunded"
    assert list(payments[paid.pk].history.values_list("to_status", flat=True)) == [
        "pending",
        "succeeded",
    ]
    refund = Refund.objects.get()
    assert (refund.order_id, refund.amount_fen, refund.status) == (refunded.pk, 3000, "succeeded")
    demo.build(DemoContext(seed=1, customers=0))  # a second run adds nothing
    assert Payment.objects.count() == 2
