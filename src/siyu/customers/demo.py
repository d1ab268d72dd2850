"""Demo customers: a skincare brand's pool after a year — platform buyers, store walk-ins added by
clerks, referrals, live-stream and WeCom contacts — with identities, owners, tags and consent.

Everything is bulk-created (a few statements per table); a handful of duplicates go through the
real resolution service so the merge-suggestion queue has true cases in it.
"""

from __future__ import annotations

from datetime import timedelta

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext

from .identity import identity_hash, phone_columns
from .models import (
    Consent,
    ConsentEvent,
    Customer,
    CustomerTag,
    Identity,
    IdentityKind,
    OwnerKind,
    Ownership,
    Source,
    Tag,
    TagGroup,
    Touch,
)

SURNAMES = (
    "王王王李李李张张张刘刘陈陈杨杨黄赵赵吴周周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董"
    "袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
)
GIVEN_F = list(
    "芳娜敏静丽艳娟霞秀玲桂英慧婷雪琳颖倩洁佳欣怡悦诗雨涵梦瑶晨曦月琪萱妍思蕾薇露瑾璐岚嘉"
)
GIVEN_M = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波宇浩凯健俊帆晨阳")
CITIES = [
    # (province, city, weight)
    ("上海", "上海", 14),
    ("北京", "北京", 10),
    ("浙江", "杭州", 9),
    ("广东", "广州", 7),
    ("广东", "深圳", 8),
    ("四川", "成都", 7),
    ("江苏", "南京", 5),
    ("江苏", "苏州", 5),
    ("湖北", "武汉", 4),
    ("重庆", "重庆", 4),
    ("陕西", "西安", 3),
    ("湖南", "长沙", 3),
    ("天津", "天津", 2),
    ("福建", "厦门", 2),
    ("山东", "青岛", 2),
    ("浙江", "宁波", 2),
    ("河南", "郑州", 2),
    ("云南", "昆明", 1),
]
STORE_CITY_PROVINCE = {"上海": "上海", "杭州": "浙江", "成都": "四川", "北京": "北京"}
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "156", "157", "158", "159", "166", "177", "180", "181", "182", "183", "185", "186", "187",
    "188", "189", "191", "198", "199",
]  # fmt: skip
# (source, share of the pool, detail texts)
SOURCES = [
    (Source.TMALL, 26, ["天猫旗舰店", "天猫双11", "天猫618"]),
    (Source.JD, 12, ["京东自营旗舰店", "京东PLUS会员日"]),
    (Source.DOUYIN, 13, ["抖音小店", "抖音直播间"]),
    (Source.STORE, 22, []),
    (Source.REFERRAL, 7, ["老带新：送小样", "好友推荐"]),
    (Source.LIVE, 7, ["品牌自播·周五专场", "达人直播·李佳琦同款", "双11预热直播"]),
    (Source.WECOM, 8, ["包裹卡扫码加企微", "客服邀请加企微", "公众号菜单"]),
    (Source.MALL, 5, ["小程序商城新人礼", "朋友圈广告"]),
]
TAG_GROUPS = [
    # (group, exclusive, [(tag, colour, rule)])
    (
        "肤质",
        True,
        [
            ("干皮", "#d48806", None),
            ("油皮", "#389e0d", None),
            ("混合皮", "#1677ff", None),
            ("敏感肌", "#cf1322", None),
            ("中性皮", "#595959", None),
        ],
    ),
    (
        "兴趣",
        False,
        [
            ("美白提亮", "#faad14", None),
            ("抗老紧致", "#722ed1", None),
            ("补水保湿", "#13c2c2", None),
            ("祛痘控油", "#52c41a", None),
            ("防晒", "#fa8c16", None),
            ("彩妆", "#eb2f96", None),
        ],
    ),
    (
        "生命周期",
        True,
        [
            ("潜客", "#8c8c8c", {"field": "paid_orders", "op": "eq", "value": 0}),
            (
                "活跃",
                "#389e0d",
                {
                    "all": [
                        {"field": "paid_orders", "op": "gte", "value": 2},
                        {"field": "days_since_last_order", "op": "lte", "value": 90},
                    ]
                },
            ),
            ("新客", "#1677ff", {"field": "days_since_last_order", "op": "lte", "value": 90}),
            ("沉睡", "#d48806", {"field": "days_since_last_order", "op": "lte", "value": 180}),
            ("流失", "#cf1322", {"field": "days_since_last_order", "op": "gt", "value": 180}),
        ],
    ),
    (
        "价值",
        False,
        [
            ("高价值", "#722ed1", {"field": "paid_total_fen", "op": "gte", "value": 200000}),
            ("复购客", "#13c2c2", {"field": "paid_orders", "op": "gte", "value": 3}),
        ],
    ),
]


def _weighted(rng, pairs):
    total = sum(w for _item, w in pairs)
    pick = rng.uniform(0, total)
    for item, weight in pairs:
        pick -= weight
        if pick <= 0:
            return item
    return pairs[-1][0]


def _name(rng) -> tuple[str, str]:
    gender = "f" if rng.random() < 0.82 else "m"
    pool = GIVEN_F if gender == "f" else GIVEN_M
    given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given, gender


def _phone(rng, used: set[str]) -> str:
    while True:
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phone not in used:
            used.add(phone)
            return phone


def build(ctx: DemoContext) -> None:
    if Customer.objects.exists():
        ctx.log("customers: already present, skipped")
        return
    rng = ctx.rng
    now = ctx.now
    clerks = list(ctx.shared.get("clerks", []))
    city_pairs = [((p, c), w) for p, c, w in CITIES]
    source_pairs = [((s, d), w) for s, w, d in SOURCES]
    used_phones: set[str] = set()

    plans = []
    for i in range(ctx.customers):
        source, details = _weighted(rng, source_pairs)
        name, gender = _name(rng)
        # the pool grew through the year, faster after the autumn campaigns
        age_days = int(365 * (rng.random() ** 1.4))
        first_seen = now - timedelta(days=age_days, minutes=rng.randrange(24 * 60))
        clerk = None
        if source == Source.STORE and clerks:
            clerk = rng.choice(clerks)
            city = clerk.store.city
            province = STORE_CITY_PROVINCE.get(city, city)
        else:
            province, city = _weighted(rng, city_pairs)
            # platform buyers and others added on WeCom by a clerk of a store in their city
            nearby = [c for c in clerks if c.store.city == city]
            if nearby and (
                source == Source.WECOM
                or (source in (Source.REFERRAL, Source.LIVE) and rng.random() < 0.5)
                or rng.random() < 0.18
            ):
                clerk = rng.choice(nearby)
        has_phone = source not in (Source.DOUYIN, Source.WECOM) or rng.random() < 0.5
        plans.append(
            {
                "i": i,
                "name": name,
                "gender": gender,
                "phone": _phone(rng, used_phones) if has_phone else "",
                "source": source,
                "detail": rng.choice(details) if details else (clerk.store.name if clerk else ""),
                "first_seen": first_seen,
                "province": province,
                "city": city,
                "clerk": clerk,
                "birthday": (now - timedelta(days=rng.randrange(20 * 365, 45 * 365))).date()
                if rng.random() < 0.35
                else None,
            }
        )
    plans.sort(key=lambda p: p["first_seen"])

    customers = [
        Customer(
            name=p["name"],
            gender=p["gender"],
            birthday=p["birthday"],
            province=p["province"],
            city=p["city"],
            source=p["source"],
            source_detail=p["detail"],
            first_seen_at=p["first_seen"],
            created_at=p["first_seen"],
            owner_kind=OwnerKind.CLERK if p["clerk"] else "",
            owner_id=p["clerk"].pk if p["clerk"] else None,
            owner_user=p["clerk"],
            store=p["clerk"].store if p["clerk"] else None,
            **phone_columns(p["phone"]),
        )
        for p in plans
    ]
    Customer.objects.bulk_create(customers, batch_size=1000)
    for plan, customer in zip(plans, customers, strict=True):
        plan["customer"] = customer

    identities, touches, ownerships = [], [], []
    consents, consent_events, referrals = [], [], []
    platform_kind = {
        Source.TMALL: IdentityKind.TMALL,
        Source.JD: IdentityKind.JD,
        Source.DOUYIN: IdentityKind.DOUYIN,
    }

    def identity(c, kind, value, source):
        identities.append(
            Identity(
                customer=c,
                kind=kind,
                value=value,
                value_hash=identity_hash(kind, value),
                source=source,
                created_at=c.first_seen_at,
            )
        )

    def consent(c, channel, granted, source, at):
        consents.append(
            Consent(customer=c, channel=channel, granted=granted, source=source, updated_at=at)
        )
        consent_events.append(
            ConsentEvent(
                customer=c,
                channel=channel,
                granted=granted,
                source=source,
                occurred_at=at,
                recorded_by=c.owner_user.username if c.owner_user else "system",
            )
        )

    opted_out = []
    for p in plans:
        c, source, at = p["customer"], p["source"], p["first_seen"]
        if p["phone"]:
            identity(c, IdentityKind.PHONE, p["phone"], source)
        if source in platform_kind:
            if source == Source.TMALL:
                buyer = f"tb{rng.randrange(10**9):09d}"
            elif source == Source.JD:
                buyer = f"jd_{rng.randrange(16**10):010x}"
            else:
                buyer = f"{rng.randrange(10**11, 10**12)}"
            identity(c, platform_kind[source], buyer, source)
        if source == Source.STORE:
            identity(c, IdentityKind.STORE_MEMBER, f"M{c.pk:07d}", source)
        wecom = bool(p["clerk"]) and (source != Source.STORE or rng.random() < 0.55)
        if wecom:
            identity(c, IdentityKind.WECOM, f"wm{rng.randrange(16**20):020x}", Source.WECOM)
        if source in (Source.MALL, Source.WECOM, Source.LIVE) or rng.random() < 0.2:
            identity(c, IdentityKind.UNIONID, f"oUn{rng.randrange(36**20):020x}", Source.MALL)
        touches.append(Touch(customer=c, source=source, detail=p["detail"], occurred_at=at))
        if p["clerk"]:
            added = at if source == Source.STORE else at + timedelta(days=rng.randrange(1, 40))
            added = min(added, ctx.now)
            if source != Source.STORE:
                touches.append(
                    Touch(
                        customer=c,
                        source=Source.WECOM,
                        detail=f"{p['clerk'].name} 添加企业微信",
                        occurred_at=added,
                    )
                )
            ownerships.append(
                Ownership(
                    customer=c,
                    owner_kind=OwnerKind.CLERK,
                    owner_id=p["clerk"].pk,
                    owner_user=p["clerk"],
                    owner_label=p["clerk"].name,
                    store=p["clerk"].store,
                    started_at=added,
                    reason="门店登记" if source == Source.STORE else "添加企业微信",
                    assigned_by=p["clerk"].username,
                )
            )
            if wecom:
                consent(c, "wecom", True, "添加企业微信好友", added)
        if source == Source.STORE and rng.random() < 0.6:
            consent(c, "sms", True, "门店会员登记表", at)
        if source in (Source.MALL, Source.LIVE) and rng.random() < 0.5:
            consent(c, "miniprogram", True, "小程序订阅消息", at)
        if source in (Source.TMALL, Source.JD) and p["phone"] and rng.random() < 0.15:
            consent(c, "sms", True, "包裹卡扫码授权", at + timedelta(days=rng.randrange(3, 15)))
        if rng.random() < 0.02:
            opted_out.append(c)

    # referrals point at someone already in the pool before them
    for idx, p in enumerate(plans):
        if p["source"] == Source.REFERRAL and idx > 10:
            p["customer"].referred_by = plans[rng.randrange(0, idx)]["customer"]
            referrals.append(p["customer"])
    Customer.objects.bulk_update(referrals, ["referred_by"], batch_size=1000)

    Identity.objects.bulk_create(identities, batch_size=2000)
    Touch.objects.bulk_create(touches, batch_size=2000)
    Ownership.objects.bulk_create(ownerships, batch_size=2000)
    Consent.objects.bulk_create(consents, batch_size=2000)
    ConsentEvent.objects.bulk_create(consent_events, batch_size=2000)

    # a few customers asked to hear nothing more: every channel off, and the global opt-out
    events = []
    for c in opted_out:
        at = min(c.first_seen_at + timedelta(days=rng.randrange(5, 120)), now)
        c.opted_out_at = at
        events.append(
            ConsentEvent(
                customer=c, channel="all", granted=False, source="客服电话退订", occurred_at=at
            )
        )
    Customer.objects.bulk_update(opted_out, ["opted_out_at"], batch_size=1000)
    Consent.objects.filter(customer__in=opted_out).update(granted=False, source="客服电话退订")
    ConsentEvent.objects.bulk_create(events)

    _tags(ctx, [p["customer"] for p in plans])
    _refresh_pool_flags()
    suggestions = _duplicates(ctx, plans)
    ctx.shared["demo_customers"] = [
        {
            "id": p["customer"].pk,
            "source": p["source"],
            "first_seen": p["first_seen"],
            "clerk": p["clerk"],
            "name": p["name"],
            "phone": p["phone"],
            "province": p["province"],
            "city": p["city"],
        }
        for p in plans
    ]
    ctx.log(
        f"customers: {len(customers)} customers, {len(identities)} identities, "
        f"{len(ownerships)} owned by clerks, {len(consents)} consents, "
        f"{suggestions} merge suggestions"
    )


def _tags(ctx: DemoContext, customers: list[Customer]) -> None:
    rng = ctx.rng
    tags: dict[str, list[Tag]] = {}
    for sort, (group_name, exclusive, entries) in enumerate(TAG_GROUPS):
        group = TagGroup.objects.create(name=group_name, exclusive=exclusive, sort=sort)
        tags[group_name] = [
            Tag.objects.create(group=group, name=name, color=color, rule=rule, sort=i)
            for i, (name, color, rule) in enumerate(entries)
        ]
    links = []
    skin_weights = [(t, w) for t, w in zip(tags["肤质"], (25, 20, 30, 15, 10), strict=True)]
    for c in customers:
        by = c.owner_user.username if c.owner_user else "operator"
        if c.owner_user or rng.random() < 0.3:
            links.append(CustomerTag(customer=c, tag=_weighted(rng, skin_weights), created_by=by))
        if rng.random() < 0.65:
            for tag in rng.sample(tags["兴趣"], rng.choice((1, 1, 2, 2, 3))):
                links.append(CustomerTag(customer=c, tag=tag, created_by=by))
    CustomerTag.objects.bulk_create(links, batch_size=2000)


def _refresh_pool_flags() -> None:
    from .services import _refresh_in_pool

    _refresh_in_pool(None)


def _duplicates(ctx: DemoContext, plans: list[dict]) -> int:
    """The same shopper twice: bought on Tmall with a phone, then joined the mini-program with a
    unionid only. When they later give both at a live-stream sign-up, siyu asks instead of
    merging."""
    from .models import MergeSuggestion
    from .services import ContactInput, register_contact

    rng = ctx.rng
    system = Actor.system("demo")
    long_ago = ctx.now - timedelta(days=120)
    buyers = [
        p
        for p in plans
        if p["source"] == Source.TMALL and p["phone"] and p["first_seen"] < long_ago
    ]
    made = 0
    for p in rng.sample(buyers, min(6, len(buyers))):
        unionid = f"oUn{rng.randrange(36**20):020x}"
        twin = register_contact(
            ContactInput(
                name=p["name"],
                identities={"unionid": unionid},
                source=Source.MALL,
                source_detail="小程序商城新人礼",
                city=p["city"],
                occurred_at=p["first_seen"] + timedelta(days=rng.randrange(10, 60)),
            ),
            actor=system,
        ).customer
        register_contact(
            ContactInput(
                phone=p["phone"],
                identities={"unionid": unionid},
                source=Source.LIVE,
                source_detail="直播预约报名",
                occurred_at=twin.first_seen_at + timedelta(days=7),
            ),
            actor=system,
        )
        made += 1
    return MergeSuggestion.objects.filter(status="open").count() if made else 0
