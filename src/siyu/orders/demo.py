"""Demo orders: a year of a skincare brand's sales with believable repeat-purchase behaviour.

Each demo customer gets their own purchase rate and their own chance of drifting away after each
purchase (heterogeneous customers, as in the BG/NBD model), and tends to re-buy the items they
like when a bottle runs out. Platform buyers' first orders carry the platform and its order id;
store orders carry the store and the credited clerk; customers a clerk serves drift to the mall.

PRODUCTS is the one product list; the catalogue can map its `sku` codes to its own SKUs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from siyu.core.demodata import DemoContext
from siyu.core.money import split_proportionally

from .models import Channel, Order, OrderLine, OrderStatus, Platform


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    title: str
    category: str
    price_fen: int
    cost_fen: int
    usage_days: int  # how long one unit lasts: drives replenishment
    popularity: int  # relative weight when a customer picks something new


PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct("SY-CLN-120", "氨基酸温和洁面乳 120ml", "洁面", 8900, 1800, 45, 9),
    DemoProduct("SY-OIL-200", "植萃净透卸妆油 200ml", "卸妆", 12800, 2600, 60, 5),
    DemoProduct("SY-TON-200", "玻尿酸保湿爽肤水 200ml", "水乳", 15800, 3200, 50, 8),
    DemoProduct("SY-LOT-120", "舒缓修护保湿乳 120ml", "水乳", 16800, 3500, 50, 6),
    DemoProduct("SY-SER-30", "玻尿酸补水精华液 30ml", "精华", 26800, 6200, 40, 10),
    DemoProduct("SY-SER-N50", "烟酰胺美白淡斑精华 50ml", "精华", 35800, 8400, 60, 9),
    DemoProduct("SY-SER-A30", "A醇抗老紧致精华 30ml", "精华", 42800, 9800, 60, 5),
    DemoProduct("SY-CRM-50", "神经酰胺修护面霜 50g", "面霜", 29800, 7000, 60, 7),
    DemoProduct("SY-EYE-15", "多肽紧致眼霜 15g", "眼霜", 32800, 7200, 90, 4),
    DemoProduct("SY-MSK-5", "积雪草舒缓面膜 5片装", "面膜", 9900, 2200, 20, 8),
    DemoProduct("SY-SUN-50", "清透水感防晒乳 SPF50+ 50ml", "防晒", 13800, 2900, 45, 7),
    DemoProduct("SY-CUS-15", "持妆轻薄气垫 15g", "彩妆", 23800, 5200, 90, 4),
    DemoProduct("SY-LIP-01", "丝绒雾面口红 #01 正红", "彩妆", 19800, 3800, 150, 4),
    DemoProduct("SY-GIFT-3", "明星修护礼盒（精华+面霜+眼霜）", "礼盒", 69800, 16800, 75, 2),
    DemoProduct("SY-TRY-5", "精华小样体验装 5ml×3", "小样", 2900, 900, 15, 6),
)
BY_SKU = {p.sku: p for p in PRODUCTS}
DISTRICTS = {
    "上海": ["静安区", "徐汇区", "浦东新区", "长宁区", "闵行区"],
    "北京": ["朝阳区", "海淀区", "东城区", "丰台区"],
    "杭州": ["西湖区", "上城区", "滨江区", "余杭区"],
    "广州": ["天河区", "越秀区", "海珠区"],
    "深圳": ["南山区", "福田区", "宝安区"],
    "成都": ["锦江区", "武侯区", "高新区"],
}
ROADS = ["中山路", "人民路", "解放路", "建国路", "长江路", "文化路", "和平路", "新华路", "学院路"]
# how likely a customer from each source buys at all, and how long after first contact
BUY_CHANCE = {
    "tmall": 1.0,
    "jd": 1.0,
    "douyin": 1.0,
    "store": 0.85,
    "live": 0.75,
    "mall": 0.7,
    "referral": 0.65,
    "wecom": 0.55,
}
PLATFORM = {"tmall": Platform.TMALL, "jd": Platform.JD, "douyin": Platform.DOUYIN}


def _pick(rng, products):
    return rng.choices(products, weights=[p.popularity for p in products])[0]


def _external_id(rng, platform: str) -> str:
    if platform == Platform.TMALL:
        return f"3{rng.randrange(10**17, 10**18)}"
    if platform == Platform.JD:
        return f"{rng.randrange(10**11, 10**12)}"
    return f"69{rng.randrange(10**16, 10**17)}"


def build(ctx: DemoContext) -> None:
    if Order.objects.exists():
        ctx.log("orders: already present, skipped")
        return
    customers = ctx.shared.get("demo_customers")
    if not customers:
        ctx.log("orders: no demo customers, skipped")
        return
    rng = ctx.rng
    now = ctx.now
    orders: list[Order] = []
    lines_for: list[list[OrderLine]] = []
    used_external: set[tuple[str, str]] = set()
    seq = 0

    for c in customers:
        source = str(c["source"])
        if rng.random() > BUY_CHANCE.get(source, 0.6):
            continue
        # heterogeneous buyers: rate ~ Gamma (mean one order every ~75 days), churn ~ Beta
        rate = rng.gammavariate(0.9, 1 / 68)
        churn = rng.betavariate(1.3, 3.2)
        favourites = [_pick(rng, PRODUCTS) for _ in range(2)]
        delay = 0 if source in PLATFORM or source == "store" else rng.randrange(0, 30)
        at = c["first_seen"] + timedelta(days=delay, minutes=rng.randrange(0, 600))
        n = 0
        while at < now and n < 30:
            seq += 1
            order, lines = _order(rng, ctx, c, at, n, favourites, seq, used_external)
            orders.append(order)
            lines_for.append(lines)
            n += 1
            if rng.random() < churn:
                break
            # the next purchase: roughly when the bottle runs out, scaled by the customer's rate
            usage = max(line.quantity * BY_SKU[line.external_sku].usage_days for line in lines)
            gap = rng.expovariate(rate) if rate > 0 else 10**6
            at += timedelta(days=max(7.0, 0.5 * usage + 0.5 * gap), minutes=rng.randrange(600))

    Order.objects.bulk_create(orders, batch_size=1000)
    all_lines = []
    for order, lines in zip(orders, lines_for, strict=True):
        for line in lines:
            line.order = order
            all_lines.append(line)
    OrderLine.objects.bulk_create(all_lines, batch_size=2000)

    from siyu.customers.services import refresh_rule_tags

    refresh_rule_tags()  # lifecycle and value tags follow the purchases just made
    per_buyer = Counter(o.customer_id for o in orders if o.paid_at)
    buyers = len(per_buyer)
    repeat = sum(1 for n in per_buyer.values() if n > 1)
    ctx.log(
        f"orders: {len(orders)} orders, {len(all_lines)} lines from {buyers} buyers "
        f"({repeat} bought again); {len(PRODUCTS)} products"
    )


def _order(rng, ctx, c, at, n, favourites, seq, used_external):
    source = str(c["source"])
    clerk = c["clerk"]
    platform = ""
    external_id = ""
    store = None
    credited = None
    if source in PLATFORM and (n == 0 or not clerk or rng.random() < 0.4):
        channel = Channel.PLATFORM
        platform = PLATFORM[source]
        while True:
            external_id = _external_id(rng, platform)
            if (platform, external_id) not in used_external:
                used_external.add((platform, external_id))
                break
    elif source == "store" and clerk and rng.random() < 0.75:
        channel, store, credited = Channel.STORE, clerk.store, clerk
    elif source == "live" and n == 0:
        channel = Channel.LIVE
    elif clerk and rng.random() < 0.45:
        channel, credited = Channel.CLERK, clerk
    else:
        channel = Channel.MALL
        credited = clerk

    # first orders of newcomers from the mall often start with a trial size
    picks = []
    if n == 0 and source in ("mall", "referral", "wecom") and rng.random() < 0.35:
        picks.append(BY_SKU["SY-TRY-5"])
    count = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
    while len(picks) < count:
        product = rng.choice(favourites) if n and rng.random() < 0.6 else _pick(rng, PRODUCTS)
        if product not in picks:
            picks.append(product)
    lines = []
    for i, product in enumerate(picks, start=1):
        qty = 2 if product.category in ("面膜", "小样") and rng.random() < 0.3 else 1
        lines.append(
            OrderLine(
                line_no=i,
                product_title=product.title,
                external_sku=product.sku,
                quantity=qty,
                unit_price_fen=product.price_fen,
                amount_fen=product.price_fen * qty,
                cost_fen=product.cost_fen * qty,
            )
        )
    goods = sum(line.amount_fen for line in lines)
    cost = sum(line.cost_fen for line in lines)
    discount = 0
    if channel == Channel.PLATFORM:
        discount = goods * rng.choice((0, 0, 5, 10, 15, 20)) // 100
    elif rng.random() < 0.4:
        discount = min(goods // 5, rng.choice((1000, 2000, 3000, 5000)))
    shipping = 0 if channel == Channel.STORE or goods - discount >= 9900 else 1000
    payable = goods - discount + shipping
    for line, share in zip(
        lines, split_proportionally(discount, [line.amount_fen for line in lines]), strict=True
    ):
        line.discount_fen = share
        line.paid_fen = line.amount_fen - share

    status = OrderStatus.COMPLETED
    paid_at = at + timedelta(minutes=rng.randrange(1, 30))
    age = (ctx.now - at).days
    roll = rng.random()
    refunded = 0
    if roll < 0.02:
        status, paid_at, payable_paid = OrderStatus.CANCELLED, None, 0
        for line in lines:
            line.paid_fen = 0
    else:
        payable_paid = payable
        if roll < 0.05:
            status, refunded = OrderStatus.REFUNDED, payable
            for line in lines:
                line.refunded_fen, line.refunded_quantity = line.paid_fen, line.quantity
        elif age < 2:
            status = OrderStatus.PAID
        elif age < 6 and channel != Channel.STORE:
            status = OrderStatus.SHIPPED

    city = c["city"]
    deliver = channel != Channel.STORE
    district = rng.choice(DISTRICTS.get(city, ["市辖区"]))
    number = f"SY{at:%y%m%d}{seq:06d}"
    order = Order(
        number=number,
        customer_id=c["id"],
        channel=channel,
        platform=platform,
        external_id=external_id,
        status=status,
        goods_amount_fen=goods,
        discount_fen=discount,
        shipping_fen=shipping,
        payable_fen=payable,
        paid_fen=payable_paid,
        refunded_fen=refunded,
        cost_fen=cost,
        placed_at=at,
        paid_at=paid_at,
        shipped_at=at + timedelta(days=1) if paid_at and deliver and age >= 2 else None,
        delivered_at=at + timedelta(days=3)
        if status == OrderStatus.COMPLETED and deliver
        else None,
        completed_at=at + timedelta(days=rng.randrange(4, 10))
        if status == OrderStatus.COMPLETED
        else None,
        cancelled_at=at + timedelta(minutes=30) if status == OrderStatus.CANCELLED else None,
        receiver_name=c["name"] if deliver else "",
        receiver_phone=c["phone"] if deliver else "",
        receiver_address=(
            f"{city}{district}{rng.choice(ROADS)}{rng.randrange(1, 999)}号"
            f"{rng.randrange(1, 30)}栋{rng.randrange(101, 2801)}室"
            if deliver
            else ""
        ),
        receiver_province=c["province"] if deliver else "",
        receiver_city=city if deliver else "",
        store=store,
        credited_kind="clerk" if credited else "",
        credited_id=credited.pk if credited else None,
        credited_user=credited,
        created_at=at,
    )
    return order, lines
