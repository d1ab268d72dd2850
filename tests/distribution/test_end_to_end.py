"""End to end through the real commerce core: a shopper opens a distributor's link, buys in the
mall's checkout, pays through the payments dev provider; the order ships and completes; the
after-sales window passes; the commission settles and is withdrawn. And the refund paths, through
real after-sales cases and refunds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.distribution import services
from siyu.distribution.models import Commission, CommissionStatus
from siyu.ledger import accounts as A
from siyu.ledger import services as ledger
from siyu.ledger.checks import verify
from siyu.ledger.models import Clawback, WithdrawalStatus
from siyu.orders.services import approve_after_sale, confirm_receipt, request_after_sale, ship
from tests import commerce

from .conftest import SYSTEM, make_distributor

pytestmark = pytest.mark.usefixtures("dev_pay")


@pytest.fixture
def shop(db, operator):
    services.update_program(actor=SYSTEM, levels=2, after_sales_days=7)
    boss = make_distributor("大区经理")
    seller = make_distributor("小美的好物", parent=boss)
    serum = commerce.product("玻尿酸保湿精华", price_fen=19900)
    return boss, seller, commerce.sku_of(serum), Actor.for_user(operator)


def buy_through_link(seller, sku, quantity=1):
    buyer = commerce.customer("王芳")
    services.record_click(seller.code, customer_id=buyer.pk, landing="/m/distribution/s/")
    order = commerce.place(buyer, [(sku, quantity)], hints={"share_code": seller.code})
    return commerce.pay(order)


def deliver(order, staff):
    ship(order.pk, actor=staff, carrier="顺丰", tracking_no=f"SF{order.pk:010d}")
    return confirm_receipt(order.pk, actor=Actor.for_customer(order.customer_id))


def balances(d):
    return ledger.balances(services.owner_of(d))


def test_link_sale_to_payout(shop, run_tasks, django_capture_on_commit_callbacks):
    boss, seller, sku, staff = shop
    order = buy_through_link(seller, sku, quantity=2)
    assert (order.status, order.channel) == ("paid", "distributor")
    assert (order.credited_kind, order.credited_id) == ("distributor", seller.pk)

    line = order.lines.get()
    mine, boss_cut = Commission.objects.get(level=1), Commission.objects.get(level=2)
    assert mine.base_fen == line.paid_fen == 39800
    assert (mine.amount_fen, boss_cut.amount_fen) == (3980, 1194)
    assert mine.status == CommissionStatus.PENDING and balances(seller)[A.PENDING] == 3980

    deliver(order, staff)
    mine.refresh_from_db()
    assert mine.status == CommissionStatus.FROZEN and balances(seller)[A.FROZEN] == 3980

    assert services.settle_due(now=timezone.now() + timedelta(days=6)) == 0
    assert services.settle_due(now=timezone.now() + timedelta(days=7, minutes=1)) == 2
    assert balances(seller)[A.AVAILABLE] == 3980 and balances(boss)[A.AVAILABLE] == 1194

    w = services.request_withdrawal(seller.pk, 3980, actor=Actor.for_customer(seller.customer_id))
    with django_capture_on_commit_callbacks(execute=True):
        ledger.approve_withdrawal(w.pk, actor=staff)
    run_tasks()
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.PAID
    assert balances(seller) == {p: 0 for p in A.OWNER_PURPOSES}
    assert verify() == []


def test_a_refund_inside_the_window_reverses_and_delays_nothing_else(shop):
    _boss, seller, sku, staff = shop
    order = buy_through_link(seller, sku, quantity=2)
    deliver(order, staff)
    line = order.lines.get()
    case = request_after_sale(
        order.pk,
        actor=Actor.for_customer(order.customer_id),
        kind="refund_only",
        quantities={line.pk: 1},
        reason="not_wanted",
    )
    # an open case holds settlement back even after the window
    assert services.settle_due(now=timezone.now() + timedelta(days=8)) == 0
    approve_after_sale(case.pk, actor=staff)
    assert commerce.settle_refunds(order) == 1
    mine = Commission.objects.get(level=1)
    assert (mine.reversed_fen, mine.net_fen, mine.status) == (1990, 1990, CommissionStatus.FROZEN)
    assert services.settle_due(now=timezone.now() + timedelta(days=8)) == 2
    assert balances(seller)[A.AVAILABLE] == 1990
    assert verify() == []


def test_a_refund_after_settlement_is_clawed_back(shop):
    """The programme settles after 3 days while the shop accepts after-sales for 7: a refund on
    day 5 takes the commission back from the distributor's balance."""
    _boss, seller, sku, staff = shop
    services.update_program(actor=SYSTEM, after_sales_days=3)
    order = buy_through_link(seller, sku)
    deliver(order, staff)
    services.settle_due(now=timezone.now() + timedelta(days=4))
    w = services.request_withdrawal(seller.pk, 1990, actor=Actor.for_customer(seller.customer_id))
    ledger.approve_withdrawal(w.pk, actor=staff)
    ledger.execute_payout(w.pk)

    case = request_after_sale(
        order.pk,
        actor=Actor.for_customer(order.customer_id),
        kind="refund_only",
        quantities={order.lines.get().pk: 1},
        reason="damaged",
    )
    approve_after_sale(case.pk, actor=staff)
    commerce.settle_refunds(order)
    mine = Commission.objects.get(level=1)
    assert mine.status == CommissionStatus.CLAWED_BACK
    clawback = Clawback.objects.get(owner_id=seller.pk)
    assert clawback.outstanding_fen == 1990 and balances(seller)[A.RECEIVABLE] == 1990
    with pytest.raises(ledger.WithdrawalBlocked):
        services.request_withdrawal(seller.pk, 1000, actor=Actor.for_customer(seller.customer_id))
    assert verify() == []


def test_a_product_rate_overrides_the_level_rate(shop, operator):
    from siyu.distribution import rates

    _boss, seller, sku, _staff = shop
    rates.save_product_rate(
        actor=Actor.for_user(operator),
        product=sku.code,
        mode="fixed",
        level1_value=2500,
        level2_value=500,
    )
    buy_through_link(seller, sku, quantity=3)
    mine, boss_cut = Commission.objects.get(level=1), Commission.objects.get(level=2)
    assert (mine.rate_source, mine.rate_mode, mine.amount_fen) == ("product", "fixed", 7500)
    assert boss_cut.amount_fen == 1500


def test_a_customer_bound_earlier_is_credited_without_the_link(shop):
    _boss, seller, sku, _staff = shop
    buyer = commerce.customer("回头客")
    services.record_click(seller.code, customer_id=buyer.pk)
    order = commerce.pay(commerce.place(buyer, [(sku, 1)]))
    assert (order.credited_kind, order.credited_id) == ("distributor", seller.pk)
    assert Commission.objects.filter(order_line__order=order).count() == 2


def test_no_link_and_no_binding_means_no_commission(shop):
    _boss, _seller, sku, _staff = shop
    order = commerce.pay(commerce.place(commerce.customer("路人"), [(sku, 1)]))
    assert order.credited_kind != "distributor"
    assert Commission.objects.count() == 0
