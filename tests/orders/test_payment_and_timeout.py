"""Paying, cancelling and the unpaid timeout; the contract with the payments app."""

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.catalog.models import StockMovement, StockReason
from siyu.core import events
from siyu.core.access import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied
from siyu.orders.errors import OrderNotPayable, PaymentAmountMismatch
from siyu.orders.events import OrderCancelled, OrderPaid
from siyu.orders.models import OrderStatus, PurchaseOrderStatus
from siyu.orders.services import cancel_order, expire_order, mark_paid
from siyu.orders.tasks import expire_overdue_orders
from siyu.payments.events import PaymentSucceeded
from tests import commerce


@pytest.fixture
def seen():
    got = []
    for kind in (OrderPaid, OrderCancelled):
        events.subscribe(kind, in_transaction=True)(got.append)
    yield got
    for kind in (OrderPaid, OrderCancelled):
        events._in_tx[kind].remove(got.append)


@pytest.mark.django_db
def test_payment_succeeded_event_marks_the_order_paid_once(seen):
    sku = commerce.sku_of(commerce.product(stock=5))
    order = commerce.place(commerce.customer(), [(sku, 2)])
    event = PaymentSucceeded(
        order.pk, payment_id=77, amount_fen=order.payable_fen, transaction_id="42000001"
    )
    events.publish(event)
    events.publish(event)  # a duplicate delivery changes nothing
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert (order.paid_fen, order.payment_id, order.transaction_id) == (
        order.payable_fen,
        77,
        "42000001",
    )
    assert order.paid_at is not None
    assert [type(e) for e in seen] == [OrderPaid]
    line = order.lines.get()
    assert line.paid_fen == line.amount_fen - line.discount_fen
    assert list(order.history.values_list("to_status", flat=True)) == ["pending_payment", "paid"]
    assert commerce.stock_of(sku).reserved == 2  # still reserved until it ships


@pytest.mark.django_db
def test_a_cancelled_order_never_becomes_paid():
    sku = commerce.sku_of(commerce.product(stock=5))
    c = commerce.customer()
    order = commerce.place(c, [(sku, 1)])
    cancel_order(order.pk, actor=commerce.shopper(c), reason="不要了")
    with pytest.raises(OrderNotPayable) as err:
        mark_paid(order.pk, amount_fen=order.payable_fen, payment_id=5)
    assert err.value.code == "order_not_payable"
    order.refresh_from_db()
    assert (order.status, order.paid_fen, order.payment_id) == (OrderStatus.CANCELLED, 0, None)


@pytest.mark.django_db
def test_a_second_payment_for_a_paid_order_is_not_payable():
    order = commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    first = commerce.pay(order).payment_id
    with pytest.raises(OrderNotPayable):
        mark_paid(order.pk, amount_fen=order.payable_fen, payment_id=first + 1000)
    # the first payment reported again is simply acknowledged
    assert mark_paid(order.pk, amount_fen=order.payable_fen, payment_id=first).status == "paid"


@pytest.mark.django_db
def test_a_wrong_amount_is_refused_and_leaves_the_order_pending():
    order = commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    with pytest.raises(PaymentAmountMismatch) as err:
        mark_paid(order.pk, amount_fen=order.payable_fen - 1, payment_id=3)
    assert isinstance(err.value, OrderNotPayable)  # payments refunds both the same way
    assert (err.value.code, err.value.fields["reason"]) == ("order_not_payable", "amount_mismatch")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT


@pytest.mark.django_db
def test_cancel_releases_reserved_stock_and_is_logged(seen):
    sku = commerce.sku_of(commerce.product(stock=5))
    c = commerce.customer()
    order = commerce.place(c, [(sku, 3)])
    cancel_order(order.pk, actor=commerce.shopper(c), reason="下错了")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.cancelled_at is not None
    level = commerce.stock_of(sku)
    assert (level.on_hand, level.reserved) == (5, 0)
    release = StockMovement.objects.get(order_id=order.pk, reason=StockReason.RELEASE)
    assert (release.reserved_delta, release.key) == (-3, f"release:{order.pk}:1")
    assert order.lines.get().released_quantity == 3
    assert isinstance(seen[-1], OrderCancelled)


@pytest.mark.django_db
def test_shoppers_cancel_only_their_own_unpaid_orders(clerk, operator):
    sku = commerce.sku_of(commerce.product(stock=5))
    owner = commerce.customer()
    order = commerce.place(owner, [(sku, 1)])
    with pytest.raises(NotFound):
        cancel_order(order.pk, actor=commerce.shopper(commerce.customer("陌生人")))
    with pytest.raises(PermissionDenied):
        cancel_order(order.pk, actor=Actor.for_user(clerk))
    commerce.pay(order)
    with pytest.raises(Conflict):
        cancel_order(order.pk, actor=Actor.for_user(operator))


@pytest.mark.django_db
def test_unpaid_order_expires_after_its_deadline_only_once():
    sku = commerce.sku_of(commerce.product(stock=5))
    order = commerce.place(commerce.customer(), [(sku, 2)])
    assert expire_order(order.pk) is False  # not due yet
    later = order.payment_deadline + timedelta(seconds=1)
    assert expire_order(order.pk, now=later) is True
    assert expire_order(order.pk, now=later) is False
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.history.last().actor_label == "unpaid-timeout"
    assert commerce.stock_of(sku).reserved == 0
    assert StockMovement.objects.filter(order_id=order.pk, reason=StockReason.RELEASE).count() == 1


@pytest.mark.django_db
def test_paid_orders_do_not_expire():
    order = commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    commerce.pay(order)
    assert expire_order(order.pk, now=order.payment_deadline + timedelta(hours=1)) is False


@pytest.mark.django_db(transaction=True)  # the worker closes a connection left in a transaction
def test_worker_runs_the_timeout_task_when_it_is_due(run_tasks):
    from django_tasks_db.models import DBTaskResult

    sku = commerce.sku_of(commerce.product(stock=5))
    order = commerce.place(commerce.customer(), [(sku, 1)])
    run_tasks()  # not due: nothing happens
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    past = timezone.now() - timedelta(seconds=1)
    order.__class__.objects.filter(pk=order.pk).update(payment_deadline=past)
    DBTaskResult.objects.update(run_after=past)
    run_tasks()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


@pytest.mark.django_db
def test_sweep_expires_overdue_orders_whose_task_was_lost():
    from django_tasks_db.models import DBTaskResult

    sku = commerce.sku_of(commerce.product(stock=5))
    due = commerce.place(commerce.customer(), [(sku, 1)])
    fresh = commerce.place(commerce.customer("b"), [(sku, 1)])
    DBTaskResult.objects.all().delete()  # the timers are gone (e.g. a flushed Redis queue)
    due.__class__.objects.filter(pk=due.pk).update(
        payment_deadline=timezone.now() - timedelta(minutes=1)
    )
    assert expire_overdue_orders.call() == 1
    due.refresh_from_db()
    fresh.refresh_from_db()
    assert (due.status, fresh.status) == (OrderStatus.CANCELLED, OrderStatus.PENDING_PAYMENT)


@pytest.mark.django_db
def test_paying_a_drop_ship_order_creates_one_purchase_order_per_supplier():
    from siyu.catalog.models import Sku

    a = commerce.sku_of(commerce.product("代发面膜", drop_ship=True, cost_fen=1500))
    b = commerce.sku_of(commerce.product("自营精华"))
    other = commerce.sku_of(commerce.product("代发眼霜", drop_ship=True, cost_fen=2500))
    Sku.objects.filter(pk=other.pk).update(supplier=commerce.supplier("SUP-2"))
    order = commerce.pay(commerce.place(commerce.customer(), [(a, 2), (b, 1), (other, 1)]))
    pos = list(order.purchase_orders.order_by("supplier__code"))
    assert [(po.supplier.code, po.status, po.cost_fen) for po in pos] == [
        ("SUP-1", PurchaseOrderStatus.PENDING, 3000),
        ("SUP-2", PurchaseOrderStatus.PENDING, 2500),
    ]
    assert [pl.line.external_sku for pl in pos[0].lines.all()] == [a.code]


@pytest.mark.django_db
def test_money_arriving_for_a_cancelled_order_goes_back_automatically():
    """The shopper opened the cashier, the order timed out, then they paid: payments asks orders,
    orders refuses (OrderNotPayable), payments refunds."""
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import DevTrade, Payment, Refund

    sku = commerce.sku_of(commerce.product(stock=5))
    c = commerce.customer()
    order = commerce.place(c, [(sku, 1)])
    start = payments.start_payment(order.pk, method="h5", actor=commerce.shopper(c))
    assert expire_order(order.pk, now=order.payment_deadline + timedelta(seconds=1))
    devpay.pay(DevTrade.objects.get(out_trade_no=start.payment.out_trade_no).prepay_id)
    payments.sync_payment(start.payment.pk, actor=Actor.system("test"))
    order.refresh_from_db()
    assert (order.status, order.paid_fen) == (OrderStatus.CANCELLED, 0)
    assert Payment.objects.get().status == "received_closed"
    refund = Refund.objects.get()
    assert (refund.amount_fen, refund.origin) == (order.payable_fen, "unapplied")
    assert commerce.stock_of(sku).reserved == 0
