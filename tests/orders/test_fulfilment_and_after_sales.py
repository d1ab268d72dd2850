"""Shipping, pickup, completion, purchase orders, and after-sales refunds end to end."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from siyu.catalog.models import StockMovement, StockReason
from siyu.core import events
from siyu.core.access import Actor
from siyu.core.errors import Conflict, InvalidTransition, ValidationFailed
from siyu.orders.events import OrderLineRefunded, OrderShipped, RefundRequested
from siyu.orders.models import AfterSaleStatus, OrderStatus, PurchaseOrderStatus
from siyu.orders.services import (
    approve_after_sale,
    auto_confirm_due,
    close_due,
    confirm_receipt,
    export_purchase_orders,
    hand_over_pickup,
    import_tracking,
    receive_return,
    refund_order,
    reject_after_sale,
    request_after_sale,
    ship,
)
from siyu.payments.events import RefundSucceeded
from tests import commerce


@pytest.fixture
def published():
    got = []
    kinds = (OrderShipped, RefundRequested, OrderLineRefunded)
    for kind in kinds:
        events.subscribe(kind, in_transaction=True)(got.append)
    yield got
    for kind in kinds:
        events._in_tx[kind].remove(got.append)


def paid_order(*items, customer=None, **extra):
    return commerce.pay(commerce.place(customer or commerce.customer(), list(items), **extra))


@pytest.mark.django_db
def test_partial_then_full_shipment_sells_stock_and_moves_the_order(operator, published):
    a = commerce.sku_of(commerce.product(stock=10))
    b = commerce.sku_of(commerce.product("面霜", stock=10))
    order = paid_order((a, 2), (b, 1))
    staff = Actor.for_user(operator)
    line_a, line_b = order.lines.order_by("line_no")
    ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF1", quantities={line_a.pk: 2})
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    assert (commerce.stock_of(a).on_hand, commerce.stock_of(a).reserved) == (8, 0)
    assert commerce.stock_of(b).reserved == 1
    ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF2")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED and order.shipped_at is not None
    assert [e.fully for e in published if isinstance(e, OrderShipped)] == [False, True]
    assert StockMovement.objects.filter(order_id=order.pk, reason=StockReason.SALE).count() == 2
    with pytest.raises(Conflict):
        ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF3")


@pytest.mark.django_db
def test_shipping_needs_a_tracking_number_and_never_more_than_bought(operator):
    a = commerce.sku_of(commerce.product(stock=10))
    order = paid_order((a, 2))
    line = order.lines.get()
    staff = Actor.for_user(operator)
    with pytest.raises(ValidationFailed):
        ship(order.pk, actor=staff, carrier="顺丰", tracking_no="")
    with pytest.raises(ValidationFailed):
        ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF", quantities={line.pk: 3})


@pytest.mark.django_db
def test_unpaid_orders_cannot_ship(operator):
    order = commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    with pytest.raises(Conflict):
        ship(order.pk, actor=Actor.for_user(operator), carrier="顺丰", tracking_no="SF1")


@pytest.mark.django_db
def test_pickup_order_is_handed_over_with_its_code(store, store_manager):
    location = commerce.store_location(store)
    sku = commerce.sku_of(commerce.product(location=location, stock=3))
    order = paid_order((sku, 1), delivery_method="pickup", store_id=store.pk)
    assert len(order.pickup_code) == 6
    manager = Actor.for_user(store_manager)
    with pytest.raises(ValidationFailed):
        hand_over_pickup(order.pk, actor=manager, pickup_code="000000x")
    hand_over_pickup(order.pk, actor=manager, pickup_code=order.pickup_code)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    level = commerce.stock_of(sku, location)
    assert (level.on_hand, level.reserved) == (2, 0)


@pytest.mark.django_db
def test_orders_complete_on_confirmation_and_close_after_the_after_sales_window(operator, settings):
    settings.SIYU_AUTO_CONFIRM_DAYS, settings.SIYU_AFTER_SALES_DAYS = 10, 7
    c = commerce.customer()
    sku = commerce.sku_of(commerce.product(stock=10))
    mine = paid_order((sku, 1), customer=c)
    forgotten = paid_order((sku, 1))
    staff = Actor.for_user(operator)
    for o in (mine, forgotten):
        ship(o.pk, actor=staff, carrier="顺丰", tracking_no=f"SF{o.pk}")
    confirm_receipt(mine.pk, actor=commerce.shopper(c))
    mine.refresh_from_db()
    assert mine.status == OrderStatus.COMPLETED
    now = timezone.now()
    assert auto_confirm_due(now=now) == 0
    assert auto_confirm_due(now=now + timedelta(days=11)) == 1
    forgotten.refresh_from_db()
    assert forgotten.status == OrderStatus.COMPLETED
    assert close_due(now=now + timedelta(days=3)) == 0
    assert close_due(now=now + timedelta(days=30)) == 2
    mine.refresh_from_db()
    assert mine.status == OrderStatus.CLOSED
    with pytest.raises(Conflict):  # no after-sales once closed
        request_after_sale(
            mine.pk,
            actor=commerce.shopper(c),
            kind="refund_only",
            quantities={mine.lines.get().pk: 1},
            reason="damaged",
        )


@pytest.mark.django_db
def test_invalid_order_transitions_raise(operator):
    order = commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    from siyu.orders.services import mark_delivered

    with pytest.raises(InvalidTransition):
        mark_delivered(order.pk, actor=Actor.for_user(operator))


@pytest.mark.django_db
def test_refund_only_of_unshipped_units_releases_them_and_publishes_per_line(operator, published):
    a = commerce.sku_of(commerce.product(price_fen=10000, stock=10))
    b = commerce.sku_of(commerce.product("面霜", price_fen=5000, stock=10))
    c = commerce.customer()
    order = paid_order((a, 3), (b, 1), customer=c)
    line_a, line_b = order.lines.order_by("line_no")
    case = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="refund_only",
        quantities={line_a.pk: 1},
        reason="not_wanted",
    )
    assert case.amount_fen == 10000 and case.refund_key.startswith("RF")
    # the unit under refund cannot ship meanwhile
    with pytest.raises(ValidationFailed):
        ship(
            order.pk,
            actor=Actor.for_user(operator),
            carrier="顺丰",
            tracking_no="X",
            quantities={line_a.pk: 3},
        )
    approve_after_sale(case.pk, actor=Actor.for_user(operator))
    requested = [e for e in published if isinstance(e, RefundRequested)]
    assert [(e.refund_key, e.amount_fen) for e in requested] == [(case.refund_key, 10000)]
    assert commerce.settle_refunds(order) == 1
    events.publish(RefundSucceeded(order.pk, case.refund_key, 10000))  # a duplicate: no change
    case.refresh_from_db()
    order.refresh_from_db()
    line_a.refresh_from_db()
    assert case.status == AfterSaleStatus.REFUNDED
    assert (order.refunded_fen, order.status) == (10000, OrderStatus.PAID)
    assert (line_a.refunded_fen, line_a.refunded_quantity, line_a.released_quantity) == (
        10000,
        1,
        1,
    )
    assert commerce.stock_of(a).reserved == 2
    refunded = [e for e in published if isinstance(e, OrderLineRefunded)]
    assert [(e.line_id, e.amount_fen, e.quantity) for e in refunded] == [(line_a.pk, 10000, 1)]
    # shipping what is left ships the order in full
    ship(order.pk, actor=Actor.for_user(operator), carrier="顺丰", tracking_no="SF9")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


@pytest.mark.django_db
def test_refunding_everything_before_shipping_returns_delivery_too_and_refunds_the_order(
    settings, operator
):
    settings.SIYU_SHIPPING_FEE_FEN, settings.SIYU_FREE_SHIPPING_FROM_FEN = 1000, 99900
    sku = commerce.sku_of(commerce.product(price_fen=3000, stock=10))
    order = paid_order((sku, 2))
    case = refund_order(order.pk, actor=Actor.system("group-buy"), note="拼团失败")
    assert (case.status, case.amount_fen, case.shipping_fen) == ("refunding", 7000, 1000)
    commerce.settle_refunds(order)
    order.refresh_from_db()
    assert (order.status, order.refunded_fen, order.paid_fen) == (OrderStatus.REFUNDED, 7000, 7000)
    assert commerce.stock_of(sku).reserved == 0


@pytest.mark.django_db
def test_return_and_refund_restocks_when_the_goods_come_back(operator):
    sku = commerce.sku_of(commerce.product(price_fen=8000, stock=10))
    c = commerce.customer()
    order = paid_order((sku, 2), customer=c)
    staff = Actor.for_user(operator)
    line = order.lines.get()
    with pytest.raises(ValidationFailed):  # nothing shipped yet: nothing to return
        request_after_sale(
            order.pk,
            actor=commerce.shopper(c),
            kind="return_refund",
            quantities={line.pk: 1},
            reason="damaged",
        )
    ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF1")
    case = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="return_refund",
        quantities={line.pk: 1},
        reason="allergy",
    )
    approve_after_sale(case.pk, actor=staff)
    case.refresh_from_db()
    assert case.status == AfterSaleStatus.AWAITING_RETURN
    receive_return(case.pk, actor=staff)
    assert commerce.stock_of(sku).on_hand == 9  # 10 - 2 shipped + 1 back
    commerce.settle_refunds(order)
    order.refresh_from_db()
    assert (order.status, order.refunded_fen) == (OrderStatus.SHIPPED, 8000)


@pytest.mark.django_db
def test_staff_may_refund_part_of_a_line_and_shoppers_cannot_claim_twice(operator):
    sku = commerce.sku_of(commerce.product(price_fen=9999, stock=10))
    c = commerce.customer()
    order = paid_order((sku, 3), customer=c)
    line = order.lines.get()
    staff = Actor.for_user(operator)
    ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF1")
    partial = request_after_sale(
        order.pk,
        actor=staff,
        kind="refund_only",
        quantities={line.pk: 1},
        reason="damaged",
        amounts={line.pk: 2000},
    )
    assert partial.amount_fen == 2000
    rest = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="refund_only",
        quantities={line.pk: 2},
        reason="not_wanted",
    )
    assert rest.amount_fen == 29997 - 2000  # the last units take what is left of the line
    with pytest.raises(ValidationFailed):
        request_after_sale(
            order.pk,
            actor=commerce.shopper(c),
            kind="refund_only",
            quantities={line.pk: 1},
            reason="other",
        )
    reject_after_sale(rest.pk, actor=staff, note="已使用")
    # after a rejection the units may be claimed again
    again = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="refund_only",
        quantities={line.pk: 1},
        reason="other",
    )
    assert again.amount_fen == 9999


@pytest.mark.django_db
def test_refund_confirmation_for_an_unknown_key_is_ignored_and_a_wrong_amount_refused():
    from siyu.orders.errors import RefundMismatch
    from siyu.orders.services import complete_refund

    order = paid_order((commerce.sku_of(commerce.product()), 1))
    case = refund_order(order.pk, actor=Actor.system("t"))
    assert complete_refund(order.pk, "RF-nope", case.amount_fen) is None  # logged, ignored
    with pytest.raises(RefundMismatch):
        complete_refund(order.pk, case.refund_key, case.amount_fen + 1)


@pytest.mark.django_db
def test_drop_ship_purchase_orders_export_per_supplier_and_tracking_import_ships_them(operator):
    a = commerce.sku_of(commerce.product("代发面膜", drop_ship=True, cost_fen=1500))
    b = commerce.sku_of(commerce.product("自营精华", stock=5))
    order = paid_order((a, 2), (b, 1))
    staff = Actor.for_user(operator)
    filename, text, count = export_purchase_orders(commerce.supplier().pk, actor=staff)
    assert count == 1 and filename.startswith("purchase-orders-SUP-1-")
    header, row = text.lstrip("\ufeff").splitlines()[:2]
    assert header.startswith("purchase_order,order_number,paid_at,sku_code")
    assert order.number in row and a.code in row and "13812345678" in row
    po = order.purchase_orders.get()
    assert po.status == PurchaseOrderStatus.SENT
    filled = text.replace(",,\r\n", ",中通,ZT123\r\n")
    result = import_tracking(
        SimpleUploadedFile("back.csv", filled.encode("utf-8-sig")), actor=staff
    )
    assert result.shipped == [po.number] and not result.errors
    po.refresh_from_db()
    order.refresh_from_db()
    assert (po.status, po.tracking_no) == (PurchaseOrderStatus.SHIPPED, "ZT123")
    assert order.status == OrderStatus.PARTIALLY_SHIPPED  # the merchant's own line still waits
    again = import_tracking(SimpleUploadedFile("back.csv", filled.encode()), actor=staff)
    assert again.unchanged == [po.number] and not again.shipped
    ship(order.pk, actor=staff, carrier="顺丰", tracking_no="SF1")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


@pytest.mark.django_db
def test_refunding_a_drop_ship_line_before_it_ships_cancels_its_purchase_order():
    a = commerce.sku_of(commerce.product("代发面膜", drop_ship=True))
    order = paid_order((a, 1))
    refund_order(order.pk, actor=Actor.system("t"))
    commerce.settle_refunds(order)
    assert order.purchase_orders.get().status == PurchaseOrderStatus.CANCELLED
