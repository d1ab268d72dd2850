"""Builders for catalogue and order tests (usable by any app's tests: `from tests.commerce import
...`). Plain functions, so concurrency tests can call them outside fixtures."""

from __future__ import annotations

import itertools

from siyu.catalog.models import (
    Category,
    Fulfilment,
    Location,
    LocationKind,
    Product,
    ProductStatus,
    Sku,
    StockLevel,
    Supplier,
)
from siyu.core.access import Actor
from siyu.customers.models import Customer

_seq = itertools.count(1)

ADDRESS = {
    "name": "林小姐",
    "phone": "13812345678",
    "province": "上海市",
    "city": "上海市",
    "district": "静安区",
    "detail": "南京西路1515号 12楼",
}


def warehouse(code: str = "WH-SH") -> Location:
    location, _ = Location.objects.get_or_create(
        code=code,
        defaults={
            "name": f"仓库 {code}",
            "kind": LocationKind.WAREHOUSE,
            "ships_online": True,
            "priority": 0,
        },
    )
    return location


def store_location(store, *, pickup: bool = True) -> Location:
    location, _ = Location.objects.get_or_create(
        store=store,
        defaults={
            "code": f"LOC-{store.code}",
            "name": store.name,
            "kind": LocationKind.STORE,
            "is_pickup": pickup,
            "priority": 10,
        },
    )
    return location


def category(name: str = "精华") -> Category:
    cat, _ = Category.objects.get_or_create(name=name, parent=None)
    return cat


def supplier(code: str = "SUP-1") -> Supplier:
    sup, _ = Supplier.objects.get_or_create(code=code, defaults={"name": f"供应商 {code}"})
    return sup


def product(
    title: str = "玻尿酸保湿精华",
    *,
    skus: int = 1,
    price_fen: int = 19900,
    cost_fen: int = 6000,
    stock: int = 100,
    limit: int | None = None,
    drop_ship: bool = False,
    location: Location | None = None,
) -> Product:
    """An on-shelf product with `skus` SKUs (specs 规格 30ml/50ml/...), each with `stock` units
    at the warehouse (unless drop-shipped)."""
    p = Product.objects.create(
        title=title,
        category=category(),
        spec_names=["规格"],
        status=ProductStatus.ON_SHELF,
        per_customer_limit=limit,
    )
    where = location or warehouse()
    for i in range(skus):
        n = next(_seq)
        sku = Sku.objects.create(
            product=p,
            code=f"SKU-{n:05d}",
            spec_values={"规格": f"{30 + 20 * i}ml"},
            price_fen=price_fen + 1000 * i,
            list_price_fen=price_fen + 1000 * i + 5000,
            cost_fen=cost_fen,
            weight_g=120,
            fulfilment=Fulfilment.DROP_SHIP if drop_ship else Fulfilment.STOCKED,
            supplier=supplier() if drop_ship else None,
        )
        if not drop_ship:
            StockLevel.objects.create(sku=sku, location=where, on_hand=stock)
    return p


def sku_of(p: Product, n: int = 0) -> Sku:
    return list(p.skus.order_by("sort", "id"))[n]


def customer(name: str = "林小姐", **extra) -> Customer:
    return Customer.objects.create(name=name, source="mall", **extra)


def shopper(c: Customer) -> Actor:
    return Actor.for_customer(c.pk)


def checkout(items, **extra):
    from siyu.orders.services import Address, Checkout

    address = extra.pop("address", ADDRESS)
    return Checkout(
        items=[(s.pk if hasattr(s, "pk") else s, q) for s, q in items],
        address=Address(**address) if address is not None else None,
        **extra,
    )


def place(c: Customer, items, *, key: str = "", **extra):
    """Place an order as shopper `c` for [(sku, quantity)]; returns the Order."""
    from siyu.orders.services import place_order

    return place_order(shopper(c), checkout(items, **extra), idempotency_key=key).order


def pay(order):
    """Pay an order the way a shopper does, through the payments app's dev provider: start the
    payment, confirm it on the dev cashier, and let payments learn it (a provider query; the
    notification path is payments' own tests' business). Returns the order, reloaded."""
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import DevTrade

    start = payments.start_payment(
        order.pk, method="h5", actor=Actor.for_customer(order.customer_id)
    )
    trade = DevTrade.objects.get(out_trade_no=start.payment.out_trade_no)
    devpay.pay(trade.prepay_id)
    payments.sync_payment(start.payment.pk, actor=Actor.system("test"))
    order.refresh_from_db()
    return order


def settle_refunds(order) -> int:
    """Carry out every refund orders requested for `order` at the dev provider and confirm it
    (payments then publishes RefundSucceeded). Returns how many were settled."""
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import Refund

    system = Actor.system("test")
    settled = 0
    for refund in Refund.objects.filter(order_id=order.pk, status__in=("pending", "processing")):
        payments.submit_refund(refund.pk)
        refund.refresh_from_db()
        devpay.settle_refund(refund.out_refund_no)
        payments.sync_refund(refund.pk, actor=system)
        settled += 1
    order.refresh_from_db()
    return settled


def stock_of(sku: Sku, location: Location | None = None) -> StockLevel:
    return StockLevel.objects.get(sku=sku, location=location or warehouse())
