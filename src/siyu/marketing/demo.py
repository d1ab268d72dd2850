"""Demo promotions: coupons of every kind (one issued to a slice of the pool, a few already used
on paid orders, so the figures move), the demo shopper's own coupons, a flash sale live now and
a daily special starting tomorrow."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext

from . import flash, services
from .models import Coupon

SYSTEM = Actor.system("demo")
OPS = Actor(kind="staff", role="operator", label="demo")


def _coupons(ctx: DemoContext) -> dict[str, Coupon]:
    made = {}
    specs = [
        (
            "welcome",
            "新人立减20元",
            "fixed",
            {"amount_fen": 2000, "valid_days": 30, "total_quantity": 10000},
        ),
        (
            "threshold",
            "满199减30",
            "threshold",
            {"amount_fen": 3000, "min_spend_fen": 19900, "valid_days": 15, "per_customer_limit": 2},
        ),
        (
            "percent",
            "全场9折券（最高减50）",
            "percent",
            {"percent_off": 10, "max_discount_fen": 5000, "valid_days": 7},
        ),
        ("shipping", "包邮券", "free_shipping", {"valid_days": 30, "per_customer_limit": 3}),
        (
            "vip",
            "老客专享满300减60",
            "threshold",
            {
                "amount_fen": 6000,
                "min_spend_fen": 30000,
                "valid_days": 30,
                "claimable": False,
                "refund_policy": "keep",
            },
        ),
    ]
    for key, name, kind, extra in specs:
        made[key] = services.create_coupon(
            OPS, services.CouponInput(name=name, kind=kind, **extra), activate=True
        )
    return made


def _skus() -> list:
    """On-shelf SKUs with stock (one per product); a small range of our own when there are
    fewer than three."""
    from django.db.models import F

    from siyu.catalog.models import ProductStatus, Sku

    chosen, seen = [], set()
    for sku in (
        Sku.objects.filter(
            is_active=True,
            product__status=ProductStatus.ON_SHELF,
            fulfilment="stocked",
            price_fen__gte=2000,
            stock_levels__location__ships_online=True,
            stock_levels__on_hand__gt=F("stock_levels__reserved") + 50,
        )
        .distinct()
        .order_by("product_id", "id")[:40]
    ):
        if sku.product_id not in seen:
            chosen.append(sku)
            seen.add(sku.product_id)
    return chosen if len(chosen) >= 3 else _demo_products()


def _demo_products() -> list:
    from siyu.catalog import services as catalog
    from siyu.catalog import stock
    from siyu.catalog.models import Location, LocationKind

    warehouse = Location.objects.filter(ships_online=True, is_active=True).first()
    if warehouse is None:
        warehouse = catalog.save_location(
            actor=SYSTEM,
            code="WH-PROMO",
            name="活动演示仓",
            kind=LocationKind.WAREHOUSE,
            ships_online=True,
        )
    category = catalog.save_category(actor=SYSTEM, name="活动专区")
    made = []
    for code, title, price, cost in (
        ("PROMO-SERUM-30", "烟酰胺精华 30ml", 22900, 6500),
        ("PROMO-CREAM-50", "夜间修护面霜 50g", 29800, 8500),
        ("PROMO-MASK-10", "玻尿酸面膜 10片装", 12900, 3000),
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
        stock.adjust(sku.pk, warehouse.pk, 1000, actor=SYSTEM, note="活动演示备货")
        made.append(sku)
    return made


def _live_sale(ctx: DemoContext, chosen: list):
    now = timezone.now()
    live = flash.create_sale(
        OPS,
        title="限时秒杀 · 今日爆款",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(days=3),
        per_customer_limit=2,
        items=[
            flash.ItemInput(chosen[0].pk, chosen[0].price_fen * 6 // 10, 100),
            flash.ItemInput(chosen[1].pk, chosen[1].price_fen * 5 // 10, 50),
        ],
        publish=True,
    )
    tomorrow = timezone.localtime(now).replace(hour=10, minute=0, second=0, microsecond=0)
    tomorrow += timedelta(days=1)
    special = flash.create_sale(
        OPS,
        title="每日爆款 · 明早10点开抢",
        kind="daily_special",
        starts_at=tomorrow,
        ends_at=tomorrow + timedelta(hours=14),
        per_customer_limit=1,
        items=[flash.ItemInput(chosen[2].pk, chosen[2].price_fen * 7 // 10, 200)],
        publish=True,
    )
    return live, special


def _use_some(ctx: DemoContext, coupon: Coupon, customer_ids: list[int], sku) -> int:
    """A few customers used the welcome coupon on orders they paid (so figures are not zero)."""
    from siyu.core.errors import DomainError
    from siyu.orders import services as orders
    from siyu.orders.services import Address, Checkout

    used = 0
    for cid in customer_ids:
        held = services.my_coupons(Actor.for_customer(cid)).filter(coupon=coupon).first()
        if held is None:
            continue
        try:
            order = orders.place_order(
                SYSTEM,
                Checkout(
                    items=[(sku.pk, 1)],
                    address=Address(
                        "演示顾客", "13900000000", "上海市", "上海市", "静安区", "演示路1号"
                    ),
                    context={"coupon_codes": [held.code]},
                ),
                customer_id=cid,
                idempotency_key=f"demo-coupon-{cid}",
            ).order
            orders.mark_paid(
                order.pk,
                amount_fen=order.payable_fen,
                payment_id=900_000_000 + order.pk,
                transaction_id=f"DEMO{order.pk}",
            )
        except DomainError as exc:
            ctx.log(f"marketing: demo order for customer {cid} skipped ({exc.code})")
            continue
        used += 1
    return used


def build(ctx: DemoContext) -> None:
    if Coupon.objects.exists():
        ctx.log("marketing: already present, skipped")
        return
    from siyu.customers.models import Customer

    coupons = _coupons(ctx)
    skus = _skus()
    pool = list(
        Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)[:60]
    )
    run = None
    if pool:
        run = services.issue(OPS, coupons["welcome"].pk, customer_ids=pool, notify=True)
        _use_some(ctx, coupons["welcome"], pool[:6], skus[-1])
    shopper = ctx.shared.get("demo_shopper")
    if shopper is not None:
        for key in ("threshold", "shipping", "vip"):
            services.grant_coupon(
                customer_id=shopper.pk,
                coupon_id=coupons[key].pk,
                source="demo",
                idempotency_key=f"demo:{key}:{shopper.pk}",
            )
    live, special = _live_sale(ctx, skus)
    ctx.log(
        f"marketing: {len(coupons)} coupons"
        + (f", issued {run.issued} (notified {run.notified})" if run else "")
        + (f", flash sale “{live.title}” live and “{special.title}” tomorrow" if live else "")
    )
