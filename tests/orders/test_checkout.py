"""Placing orders: server-side prices, stock reserved, idempotency, limits, attribution."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from siyu.catalog.models import ProductStatus, StockMovement, StockReason
from siyu.core.access import Actor, Role
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.orders import pricing
from siyu.orders.errors import (
    IdempotencyKeyReused,
    NotOnSale,
    OutOfStock,
    PurchaseLimitExceeded,
)
from siyu.orders.models import (
    CartItem,
    Channel,
    Order,
    OrderAdjustment,
    OrderStatus,
    OrderStatusChange,
)
from siyu.orders.services import add_to_cart, place_order, quote
from tests import commerce


@pytest.mark.django_db
def test_order_copies_catalogue_price_and_cost_and_reserves_stock(settings):
    settings.SIYU_FREE_SHIPPING_FROM_FEN = 9900
    p = commerce.product(skus=2, price_fen=19900, cost_fen=6000, stock=10)
    a, b = commerce.sku_of(p, 0), commerce.sku_of(p, 1)
    c = commerce.customer()
    order = commerce.place(c, [(a, 2), (b, 1)])

    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.goods_amount_fen == 2 * 19900 + 20900
    assert order.shipping_fen == 0  # above the free-delivery threshold
    assert order.payable_fen == order.goods_amount_fen
    assert order.cost_fen == 3 * 6000
    lines = list(order.lines.order_by("line_no"))
    assert [(ln.external_sku, ln.quantity, ln.unit_price_fen, ln.amount_fen) for ln in lines] == [
        (a.code, 2, 19900, 39800),
        (b.code, 1, 20900, 20900),
    ]
    assert lines[0].cost_fen == 12000 and lines[0].spec_text == "30ml"
    assert lines[0].location_id == commerce.warehouse().pk
    assert commerce.stock_of(a).reserved == 2 and commerce.stock_of(b).reserved == 1
    assert (
        StockMovement.objects.filter(order_id=order.pk, reason=StockReason.RESERVATION).count() == 2
    )
    assert order.payment_deadline - order.placed_at == timedelta(minutes=30)
    history = OrderStatusChange.objects.get(order=order)
    assert (history.from_status, history.to_status, history.actor_kind) == (
        "",
        OrderStatus.PENDING_PAYMENT,
        "customer",
    )
    assert order.receiver_phone == "13812345678"  # stored encrypted, read back in clear


@pytest.mark.django_db
def test_a_later_price_change_does_not_touch_placed_orders():
    sku = commerce.sku_of(commerce.product(price_fen=10000, cost_fen=3000))
    order = commerce.place(commerce.customer(), [(sku, 1)])
    sku.price_fen, sku.cost_fen = 5000, 4000
    sku.save()
    line = order.lines.get()
    assert (line.unit_price_fen, line.cost_fen) == (10000, 3000)


@pytest.mark.django_db
def test_small_orders_pay_flat_delivery_and_pickup_is_free(settings, store):
    settings.SIYU_SHIPPING_FEE_FEN, settings.SIYU_FREE_SHIPPING_FROM_FEN = 1000, 9900
    pickup = commerce.store_location(store)
    sku = commerce.sku_of(commerce.product(price_fen=3900, location=pickup))
    commerce.warehouse()
    from siyu.catalog.models import StockLevel

    StockLevel.objects.create(sku=sku, location=commerce.warehouse(), on_hand=5)
    c = commerce.customer()
    delivered = commerce.place(c, [(sku, 1)])
    assert (delivered.shipping_fen, delivered.payable_fen) == (1000, 4900)
    picked = commerce.place(c, [(sku, 1)], delivery_method="pickup", store_id=store.pk)
    assert (picked.shipping_fen, picked.payable_fen, picked.store_id) == (0, 3900, store.pk)
    assert picked.lines.get().location_id == pickup.pk  # reserved at the pickup store


@pytest.mark.django_db
def test_same_idempotency_key_returns_the_same_order_once():
    sku = commerce.sku_of(commerce.product(stock=10))
    c = commerce.customer()
    actor = commerce.shopper(c)
    first = place_order(actor, commerce.checkout([(sku, 2)]), idempotency_key="k-123")
    again = place_order(actor, commerce.checkout([(sku, 2)]), idempotency_key="k-123")
    assert first.created and not again.created
    assert again.order.pk == first.order.pk
    assert Order.objects.count() == 1
    assert commerce.stock_of(sku).reserved == 2
    with pytest.raises(IdempotencyKeyReused):
        place_order(actor, commerce.checkout([(sku, 3)]), idempotency_key="k-123")
    # the key is per customer: someone else may use the same string
    other = place_order(
        commerce.shopper(commerce.customer("王先生")),
        commerce.checkout([(sku, 1)]),
        idempotency_key="k-123",
    )
    assert other.created and other.order.pk != first.order.pk


@pytest.mark.django_db
def test_idempotency_key_is_unique_per_customer_in_the_database():
    sku = commerce.sku_of(commerce.product())
    order = commerce.place(commerce.customer(), [(sku, 1)], key="dup")
    clone = Order.objects.get(pk=order.pk)
    clone.pk, clone.number = None, "other-number"
    with pytest.raises(IntegrityError):
        clone.save()


@pytest.mark.django_db
def test_out_of_stock_order_is_refused_and_reserves_nothing():
    a = commerce.sku_of(commerce.product(stock=5))
    b = commerce.sku_of(commerce.product("面霜", stock=1))
    with pytest.raises(OutOfStock) as err:
        commerce.place(commerce.customer(), [(a, 1), (b, 2)])
    assert b.code in err.value.fields
    assert commerce.stock_of(a).reserved == 0
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_off_shelf_or_inactive_skus_cannot_be_ordered():
    p = commerce.product()
    sku = commerce.sku_of(p)
    p.status = ProductStatus.OFF_SHELF
    p.save()
    with pytest.raises(NotOnSale):
        commerce.place(commerce.customer(), [(sku, 1)])


@pytest.mark.django_db
def test_drop_ship_skus_need_no_merchant_stock():
    sku = commerce.sku_of(commerce.product(drop_ship=True))
    order = commerce.place(commerce.customer(), [(sku, 3)])
    line = order.lines.get()
    assert (line.fulfilment, line.supplier_id, line.location_id) == (
        "drop_ship",
        commerce.supplier().pk,
        None,
    )


@pytest.mark.django_db
def test_per_customer_limit_counts_earlier_orders_but_not_cancelled_ones():
    from siyu.orders.services import cancel_order

    sku = commerce.sku_of(commerce.product(limit=2))
    c = commerce.customer()
    first = commerce.place(c, [(sku, 1)])
    commerce.place(c, [(sku, 1)])
    with pytest.raises(PurchaseLimitExceeded):
        commerce.place(c, [(sku, 1)])
    cancel_order(first.pk, actor=commerce.shopper(c), reason="changed my mind")
    commerce.place(c, [(sku, 1)])  # the cancelled unit no longer counts
    commerce.place(commerce.customer("王先生"), [(sku, 2)])  # limits are per customer


@pytest.mark.django_db
def test_delivery_needs_a_full_address_and_a_mobile_number():
    sku = commerce.sku_of(commerce.product())
    bad = dict(commerce.ADDRESS, phone="12345", detail="")
    with pytest.raises(ValidationFailed) as err:
        commerce.place(commerce.customer(), [(sku, 1)], address=bad)
    assert set(err.value.fields) == {"address.phone", "address.detail"}


@pytest.mark.django_db
def test_pickup_needs_a_pickup_store(store):
    sku = commerce.sku_of(commerce.product())
    with pytest.raises(ValidationFailed) as err:
        commerce.place(commerce.customer(), [(sku, 1)], delivery_method="pickup", store_id=store.pk)
    assert "store_id" in err.value.fields


@pytest.mark.django_db
def test_only_shoppers_or_the_system_place_orders(operator):
    sku = commerce.sku_of(commerce.product())
    c = commerce.customer()
    with pytest.raises(PermissionDenied):
        place_order(Actor.for_user(operator), commerce.checkout([(sku, 1)]), customer_id=c.pk)
    with pytest.raises(PermissionDenied):  # a shopper cannot order for someone else
        place_order(commerce.shopper(c), commerce.checkout([(sku, 1)]), customer_id=c.pk + 1)
    placed = place_order(
        Actor.system("group-buy"),
        commerce.checkout([(sku, 1)], channel="group_buy"),
        customer_id=c.pk,
    )
    assert placed.order.channel == Channel.GROUP_BUY


@pytest.mark.django_db
def test_merged_away_customer_cannot_order():
    sku = commerce.sku_of(commerce.product())
    survivor = commerce.customer("a")
    merged = commerce.customer("b", merged_into=survivor)
    with pytest.raises(NotFound):
        commerce.place(merged, [(sku, 1)])


@pytest.mark.django_db
def test_attribution_credits_the_customers_owner_and_stays_after_a_handover(clerk, make_staff):
    sku = commerce.sku_of(commerce.product())
    c = commerce.customer(
        owner_kind="clerk", owner_id=clerk.pk, owner_user=clerk, store=clerk.store
    )
    order = commerce.place(c, [(sku, 1)])
    assert (order.channel, order.credited_kind, order.credited_user_id, order.store_id) == (
        Channel.MALL,
        "clerk",
        clerk.pk,
        clerk.store_id,
    )
    successor = make_staff(Role.CLERK, username="successor")
    c.owner_user = successor
    c.owner_id = successor.pk
    c.save()
    order.refresh_from_db()
    assert order.credited_user_id == clerk.pk


@pytest.mark.django_db
def test_a_clerks_share_link_credits_that_clerk(clerk):
    sku = commerce.sku_of(commerce.product())
    order = commerce.place(commerce.customer(), [(sku, 1)], hints={"staff_ref": str(clerk.pk)})
    assert (order.channel, order.credited_user_id) == (Channel.CLERK, clerk.pk)
    # a made-up reference falls back to the default
    order = commerce.place(commerce.customer("x"), [(sku, 1)], hints={"staff_ref": "999999"})
    assert (order.channel, order.credited_user_id) == (Channel.MALL, None)


@pytest.mark.django_db
def test_checkout_from_cart_empties_the_ordered_cart_lines():
    a = commerce.sku_of(commerce.product())
    b = commerce.sku_of(commerce.product("面霜"))
    c = commerce.customer()
    add_to_cart(commerce.shopper(c), a.pk, 2)
    add_to_cart(commerce.shopper(c), b.pk, 1)
    commerce.place(c, [(a, 2)], from_cart=True)
    assert list(CartItem.objects.filter(customer=c).values_list("sku_id", flat=True)) == [b.pk]


class _TenOff(pricing.PriceAdjuster):
    code, label, order = "coupon", "满100减10", 50

    def __init__(self):
        self.committed = []

    def apply(self, quote):
        if "C10" in quote.context.get("coupon_codes", []) and quote.goods_fen >= 10000:
            quote.discount(1000, self.code, self.label, ref="C10")

    def commit(self, quote, order_id):
        self.committed.append(order_id)


class _MemberPrice(pricing.PriceAdjuster):
    code, label, order = "member_price", "会员价", 10

    def apply(self, quote):
        for line in quote.lines:
            quote.set_unit_price(line, line.unit_price_fen - 100, self.code, self.label)


@pytest.fixture
def adjusters():
    installed = [_MemberPrice(), _TenOff()]
    # the real adjusters registered under these codes (marketing's coupon) come back afterwards
    replaced = {a.code: found for a in installed if (found := pricing.get(a.code))}
    for a in installed:
        pricing.register(a)
    yield installed
    for a in installed:
        pricing.unregister(a.code)
    for a in replaced.values():
        pricing.register(a)


@pytest.mark.django_db
def test_registered_adjusters_discount_lines_exactly_and_commit_with_the_order(adjusters):
    a = commerce.sku_of(commerce.product(price_fen=3333))
    b = commerce.sku_of(commerce.product("面霜", price_fen=6667))
    c = commerce.customer()
    preview = quote(
        commerce.shopper(c), commerce.checkout([(a, 1), (b, 1)], context={"coupon_codes": ["C10"]})
    )
    assert preview.discount_fen == 200 + 1000
    order = commerce.place(c, [(a, 1), (b, 1)], context={"coupon_codes": ["C10"]})
    lines = list(order.lines.order_by("line_no"))
    assert sum(ln.discount_fen for ln in lines) == order.discount_fen == 1200
    # 1000 split over what each line costs after the member price: 3233 : 6567
    assert [ln.discount_fen for ln in lines] == [100 + 330, 100 + 670]
    assert order.payable_fen == 10000 - 1200 + order.shipping_fen
    assert OrderAdjustment.objects.filter(order=order, code="coupon").count() == 2
    assert adjusters[1].committed == [order.pk]


@pytest.mark.django_db
def test_unpaid_timeout_task_is_persisted_with_the_payment_deadline():
    from django_tasks_db.models import DBTaskResult

    sku = commerce.sku_of(commerce.product())
    order = commerce.place(commerce.customer(), [(sku, 1)])
    task = DBTaskResult.objects.get()
    assert task.task_path == "siyu.orders.tasks.expire_unpaid_order"
    assert task.args_kwargs["args"] == [order.pk]
    assert abs((task.run_after - order.payment_deadline).total_seconds()) < 1
    assert task.run_after > timezone.now() + timedelta(minutes=29)
