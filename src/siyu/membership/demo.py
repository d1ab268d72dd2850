"""Demo membership: three tiers, the ¥365 annual card (a catalogue product), member prices, the
programme's rules, and the demo shopper with points, a card bought through checkout and two
friends they invited — one already rewarded.

Everything goes through the real services (checkout, dev payments, orders' fulfilment); only the
passing of time is simulated: the rewarded friend's after-sales window is treated as over.
"""

from __future__ import annotations

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext

from .models import CardPlan, Tier
from .services import cards, points, referrals, tiers
from .services.program import update_program

SYSTEM = Actor.system("demo")
ADDRESS = {
    "name": "林小姐",
    "phone": "13800138000",
    "province": "上海市",
    "city": "上海市",
    "district": "静安区",
    "detail": "南京西路1515号",
}


def build(ctx: DemoContext) -> None:
    if Tier.objects.exists():
        ctx.log("membership: already present, skipped")
        return
    update_program(
        actor=SYSTEM,
        referral_reward_kind="cashback",
        referral_cashback_fen=500,
        referral_cashback_bp=500,
        referral_cap_count=10,
        referral_cap_fen=20000,
        min_withdrawal_fen=1000,
    )
    for rank, name, spend, discount, free, multiplier, text in (
        (1, "银卡会员", 50000, 0, False, 120, "近一年消费满 ¥500"),
        (2, "金卡会员", 200000, 5, True, 150, "近一年消费满 ¥2,000：95 折、包邮"),
        (3, "钻石会员", 500000, 8, True, 200, "近一年消费满 ¥5,000：92 折、包邮、双倍积分"),
    ):
        tiers.save_tier(
            actor=SYSTEM,
            name=name,
            rank=rank,
            min_spend_fen=spend,
            discount_percent=discount,
            member_price=rank >= 2,
            free_shipping=free,
            points_multiplier_percent=multiplier,
            description=text,
        )
    card_sku = _card_product()
    plan = cards.save_plan(
        actor=SYSTEM,
        sku_code=card_sku.code,
        name="365 元年卡",
        duration_days=365,
        discount_percent=5,
        member_price=True,
        free_shipping=True,
        points_multiplier_percent=150,
        full_refund_days=7,
        is_active=True,
        description="一年内全场 95 折、会员价、包邮、1.5 倍积分",
    )
    _member_prices()
    counts = tiers.evaluate_all()
    shopper = ctx.shared.get("demo_shopper")
    if shopper is not None:
        _demo_shopper(ctx, shopper, plan)
    ctx.log(
        f"membership: {Tier.objects.count()} tiers, card plan {plan.name}, "
        f"{counts['evaluated']} members evaluated ({counts['upgrade']} upgraded)"
    )


def _card_product():
    from siyu.catalog import services as catalog
    from siyu.catalog import stock
    from siyu.catalog.models import Location, LocationKind

    warehouse = Location.objects.filter(ships_online=True, is_active=True).first()
    if warehouse is None:
        warehouse = catalog.save_location(
            actor=SYSTEM,
            code="WH-CARD",
            name="会员卡（虚拟）",
            kind=LocationKind.WAREHOUSE,
            ships_online=True,
        )
    category = catalog.save_category(actor=SYSTEM, name="会员服务")
    product = catalog.create_product(
        catalog.ProductInput(
            title="365 元年卡会员",
            category_id=category.pk,
            subtitle="一年 95 折 + 会员价 + 包邮",
            skus=[catalog.SkuInput(code="MEMBER-CARD-365", price_fen=36500, cost_fen=0)],
        ),
        actor=SYSTEM,
    )
    catalog.set_shelf_status(product.pk, "on_shelf", actor=SYSTEM)
    sku = product.skus.get()
    stock.adjust(sku.pk, warehouse.pk, 100000, actor=SYSTEM, note="会员卡为虚拟商品")
    return sku


def _member_prices() -> None:
    from siyu.catalog.models import Sku

    from .services.benefits import save_member_price

    for sku in (
        Sku.objects.filter(is_active=True, price_fen__gte=5000)
        .exclude(card_plan__isnull=False)
        .order_by("id")[:5]
    ):
        save_member_price(actor=SYSTEM, sku_code=sku.code, price_fen=sku.price_fen * 88 // 100)


def _buy(customer, sku, quantity: int = 1):
    from siyu.orders.services import Address, Checkout, place_order
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import DevTrade

    shopper = Actor.for_customer(customer.pk)
    order = place_order(
        shopper, Checkout(items=[(sku.pk, quantity)], address=Address(**ADDRESS))
    ).order
    start = payments.start_payment(order.pk, method="h5", actor=shopper)
    trade = DevTrade.objects.get(out_trade_no=start.payment.out_trade_no)
    devpay.pay(trade.prepay_id)
    payments.sync_payment(start.payment.pk, actor=SYSTEM)
    order.refresh_from_db()
    return order


def _demo_shopper(ctx: DemoContext, shopper, plan: CardPlan) -> None:
    from siyu.customers.services import ContactInput, register_contact
    from siyu.orders.services import confirm_receipt, ship

    points.adjust(shopper.pk, 800, actor=SYSTEM, reason="新会员礼", key="demo-welcome")
    _buy(shopper, plan.sku)
    cards.deliver_if_only_cards(shopper.orders.order_by("-id").values_list("pk", flat=True).first())
    code = tiers.member_for(shopper.pk).code
    goods = [s for s in _goods()][:1]
    for i, name in enumerate(("周晓晓", "吴佳")):
        friend = register_contact(
            ContactInput(
                source="referral",
                name=name,
                phone=f"1391700{i:04d}",
                touch_ref=f"demo-member-friend-{i}",
            ),
            actor=SYSTEM,
        ).customer
        referrals.record(friend.pk, code, via="invite")
        if i == 0 and goods:
            order = _buy(friend, goods[0])
            ship(order.pk, actor=SYSTEM, carrier="顺丰速运", tracking_no=f"SF{order.pk:010d}")
            confirm_receipt(order.pk, actor=Actor.for_customer(friend.pk))
            referrals.reward_for_order(order.pk)  # as if the after-sales window had passed
    ctx.log(f"membership: demo shopper has points, a card and invitation code {code}")


def _goods():
    from siyu.catalog.models import ProductStatus, Sku

    return (
        Sku.objects.filter(
            is_active=True,
            product__status=ProductStatus.ON_SHELF,
            fulfilment="stocked",
            card_plan__isnull=True,
            stock_levels__on_hand__gt=10,
        )
        .distinct()
        .order_by("id")[:3]
    )
