"""Demo distribution: a few distributors (one recruited by another), the customers their links
brought, and sales in every commission state — pending, frozen, settled, reversed, clawed back —
with a withdrawal paid and one waiting for review.

Everything goes through the real services: customers are registered by the customers service,
orders placed by checkout with the distributor's share code, paid through the payments dev
provider, shipped, confirmed and refunded by the orders services. Only the passing of time is
simulated: sales meant to be older have their commission's after-sales window moved into the past.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext

from . import queries, services
from .models import Commission, Distributor

SYSTEM = Actor.system("demo")

DISTRIBUTORS = [
    # key, shop name, customer name, phone, level, recruited by
    ("mei", "小美的好物分享", "陈小美", "13916000001", "gold", None),
    ("fang", "宝妈阿芳的精选", "王芳", "13916000002", "standard", "mei"),
    ("leo", "健身达人 Leo", "李昊", "13916000003", "standard", None),
    ("yu", "学生党小雨推荐", "赵雨", "13916000004", "standard", "leo"),
    ("xuhui", "徐汇闺蜜店", "周婷", "13916000005", "standard", None),
]
APPLICANTS = [
    ("孙悦", "13916000011", "我在小区宝妈群很活跃，想分享好用的护肤品"),
    ("吴倩", "13916000012", ""),
]
BUYERS = [
    "林晓",
    "黄磊",
    "郑爽",
    "冯婷",
    "何静",
    "许晴",
    "邓超",
    "曹颖",
    "彭洁",
    "蒋敏",
    "谢娜",
    "韩雪",
]


def build(ctx: DemoContext) -> None:
    if Distributor.objects.exists():
        ctx.log("distribution: already present, skipped")
        return
    services.update_program(
        actor=SYSTEM,
        join_mode="application",
        levels=2,
        binding_rule="first_days",
        binding_days=30,
        after_sales_days=7,
    )
    standard = services.default_level()
    gold = services.save_level(
        actor=SYSTEM,
        name="金牌分销员",
        rank=2,
        rate1_bp=1500,
        rate2_bp=500,
        description="月销售额稳定的分销员",
    )
    levels = {"standard": standard, "gold": gold}
    people = {}
    for key, shop, name, phone, level, parent in DISTRIBUTORS:
        customer = _customer(name, phone)
        people[key] = services.add_distributor(
            customer.pk,
            actor=SYSTEM,
            display_name=shop,
            parent_id=people[parent].pk if parent else None,
            level_id=levels[level].pk,
        )
    for name, phone, motivation in APPLICANTS:
        applicant = _customer(name, phone)
        services.join(
            applicant.pk, actor=SYSTEM, display_name=f"{name}的小店", motivation=motivation
        )

    skus = _skus()
    if not skus:
        ctx.log("distribution: no products to sell, sales skipped")
        return
    buyers = [_customer(name, f"1371600{i:04d}") for i, name in enumerate(BUYERS)]
    rng = ctx.rng
    sellers = [
        "mei",
        "mei",
        "fang",
        "leo",
        "yu",
        "mei",
        "xuhui",
        "fang",
        "leo",
        "mei",
        "yu",
        "xuhui",
    ]
    # stage of each sale: settled long ago, completed this week, just paid, refunded...
    stages = ["settled", "settled", "settled", "frozen", "pending", "settled", "frozen",
              "pending", "reversed", "clawed_back", "settled", "pending"]  # fmt: skip
    staff = _staff()
    for buyer, seller_key, stage in zip(buyers, sellers, stages, strict=True):
        seller = people[seller_key]
        services.record_click(seller.code, customer_id=buyer.pk, landing="/m/distribution/s/")
        items = [(rng.choice(skus), rng.randint(1, 2))]
        order = _sell(buyer, items, seller.code)
        if order is None:
            continue
        if stage == "pending":
            continue
        _deliver(order, staff)
        if stage in ("settled", "clawed_back"):
            _age(order, days=rng.randint(9, 20))
            services.settle_due()
        if stage in ("reversed", "clawed_back"):
            _refund_all(order, staff)

    # 小美 withdrew half of her settled commission (paid) and has asked for the rest (waiting)
    mei = people["mei"]
    available = queries.earnings(mei).available
    if available >= 2000:
        from siyu.ledger import services as ledger

        as_mei = Actor.for_customer(mei.customer_id)
        paid = services.request_withdrawal(mei.pk, available // 2, actor=as_mei)
        ledger.approve_withdrawal(paid.pk, actor=staff)
        ledger.execute_payout(paid.pk)
        services.request_withdrawal(mei.pk, available - available // 2, actor=as_mei)
    counts = queries.commission_counts()
    ctx.log(
        f"distribution: {len(people)} distributors, {len(APPLICANTS)} applications, "
        f"commissions {dict(sorted(counts.items()))}"
    )


def _customer(name: str, phone: str):
    from siyu.customers.services import ContactInput, register_contact

    return register_contact(
        ContactInput(source="referral", name=name, phone=phone, touch_ref=f"demo-dist-{phone}"),
        actor=SYSTEM,
    ).customer


def _staff() -> Actor:
    from siyu.staff.models import User

    user = User.objects.filter(username="operator").first()
    return Actor.for_user(user) if user else SYSTEM


def _skus() -> list:
    """On-shelf SKUs with stock to sell; a small range of our own when the catalogue is empty."""
    from django.db.models import F

    from siyu.catalog.models import ProductStatus, Sku

    found = list(
        Sku.objects.filter(
            is_active=True,
            product__status=ProductStatus.ON_SHELF,
            fulfilment="stocked",
            stock_levels__location__ships_online=True,
            stock_levels__on_hand__gt=F("stock_levels__reserved") + 20,
        )
        .distinct()
        .order_by("id")[:8]
    )
    return found or _demo_products()


def _demo_products() -> list:
    from siyu.catalog import services as catalog
    from siyu.catalog import stock
    from siyu.catalog.models import Location, LocationKind

    warehouse = Location.objects.filter(ships_online=True, is_active=True).first()
    if warehouse is None:
        warehouse = catalog.save_location(
            actor=SYSTEM,
            code="WH-DIST",
            name="分销演示仓",
            kind=LocationKind.WAREHOUSE,
            ships_online=True,
        )
    category = catalog.save_category(actor=SYSTEM, name="分销精选")
    made = []
    for code, title, price, cost in (
        ("DIST-SERUM-30", "玻尿酸保湿精华 30ml", 19900, 6000),
        ("DIST-CREAM-50", "修护面霜 50g", 26800, 8000),
        ("DIST-MASK-5", "补水面膜 5片装", 9900, 2500),
    ):
        product = catalog.create_product(
            catalog.ProductInput(
                title=title,
                category_id=category.pk,
                skus=[catalog.SkuInput(code=code, price_fen=price, cost_fen=cost)],
            ),
            actor=SYSTEM,
        )
        catalog.set_shelf_status(product.pk, "on_shelf", actor=SYSTEM)
        sku = product.skus.get()
        stock.adjust(sku.pk, warehouse.pk, 500, actor=SYSTEM, note="分销演示备货")
        made.append(sku)
    return made


def _sell(buyer, items, code: str):
    """Place the order through checkout with the share code and pay it with the dev provider."""
    from siyu.core.errors import DomainError
    from siyu.orders.services import Address, Checkout, place_order
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import DevTrade

    shopper = Actor.for_customer(buyer.pk)
    checkout = Checkout(
        items=[(sku.pk, quantity) for sku, quantity in items],
        address=Address(
            name=buyer.name,
            phone="13800138000",
            province="上海市",
            city="上海市",
            district="徐汇区",
            detail="漕溪北路88号",
        ),
        hints={"share_code": code},
    )
    try:
        order = place_order(shopper, checkout).order
        start = payments.start_payment(order.pk, method="h5", actor=shopper)
        trade = DevTrade.objects.get(out_trade_no=start.payment.out_trade_no)
        devpay.pay(trade.prepay_id)
        payments.sync_payment(start.payment.pk, actor=SYSTEM)
    except DomainError:
        return None
    order.refresh_from_db()
    return order if order.status == "paid" else None


def _deliver(order, staff: Actor) -> None:
    from siyu.orders.services import confirm_receipt, ship

    ship(order.pk, actor=staff, carrier="顺丰速运", tracking_no=f"SF{order.pk:010d}")
    confirm_receipt(order.pk, actor=Actor.for_customer(order.customer_id))


def _age(order, *, days: int) -> None:
    """This sale completed `days` ago: its commissions' after-sales window is already over."""
    completed = timezone.now() - timedelta(days=days)
    Commission.objects.filter(order_id=order.pk, status="frozen").update(
        completed_at=completed, settle_after=completed + timedelta(days=7)
    )


def _refund_all(order, staff: Actor) -> None:
    """The shopper returns everything: refunded through the after-sales flow and the provider."""
    from siyu.orders.services import refund_order
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import Refund

    refund_order(order.pk, actor=staff, note="演示：整单退款")
    for refund in Refund.objects.filter(order_id=order.pk, status__in=("pending", "processing")):
        payments.submit_refund(refund.pk)
        refund.refresh_from_db()
        devpay.settle_refund(refund.out_refund_no)
        payments.sync_refund(refund.pk, actor=SYSTEM)
