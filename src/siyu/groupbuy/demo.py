"""Demo group buys: two activities with groups in every state — open and filling, succeeded (its
orders released for shipping), failed (everyone refunded) — all through the real services: orders
placed by the group-buy service, paid with the payments dev provider, refunds settled by it. Only
the passing of time is simulated: the failed group's deadline is moved into the past before its
timer runs."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext
from siyu.orders.services import Address

from . import services
from .models import Activity, Group

SYSTEM = Actor.system("demo")

SHOPPERS = ["韩梅梅", "李雷", "王小红", "张伟", "刘洋", "陈静", "杨帆", "黄丽", "周杰", "吴敏"]


def build(ctx: DemoContext) -> None:
    if Activity.objects.exists():
        ctx.log("groupbuy: already present, skipped")
        return
    from siyu.distribution.demo import _skus

    skus = _skus()
    if len(skus) < 2:
        ctx.log("groupbuy: no products to sell, skipped")
        return
    now = timezone.now()
    trio = services.create_activity(
        services.ActivityInput(
            title="三人团 · 明星精华",
            description="3 人成团享拼团价，24 小时内未成团自动全额退款。",
            group_size=3,
            time_limit_hours=24,
            per_customer_limit=2,
            starts_at=now - timedelta(days=3),
            ends_at=now + timedelta(days=14),
            items=[(skus[0].pk, skus[0].price_fen * 7 // 10)],
        ),
        actor=SYSTEM,
    )
    pair = services.create_activity(
        services.ActivityInput(
            title="双人团 · 第二件半价",
            description="和好友一起买，两人成团。",
            group_size=2,
            time_limit_hours=12,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=7),
            items=[(s.pk, s.price_fen * 3 // 4) for s in skus[1:3]],
        ),
        actor=SYSTEM,
    )
    people = [_customer(name, f"1372600{i:04d}") for i, name in enumerate(SHOPPERS)]

    # 三人团: one succeeded, one open with two of three paid, one failed and refunded
    _group(trio, people[0:3], paid=3)
    _group(trio, people[3:5], paid=2)
    failed = _group(trio, people[5:7], paid=2)
    if failed is not None:
        Group.objects.filter(pk=failed.pk).update(expires_at=now - timedelta(minutes=1))
        services.expire_group(failed.pk)
        _settle_refunds(failed)
    # 双人团: one succeeded, one just opened
    _group(pair, people[7:9], paid=2)
    _group(pair, people[9:10], paid=1)
    # release the succeeded groups' orders now rather than from the worker's task
    for pk in Group.objects.filter(status="succeeded").values_list("pk", flat=True):
        services.release_group(pk)

    states = dict.fromkeys(("open", "succeeded", "failed"), 0)
    for status in Group.objects.values_list("status", flat=True):
        states[status] = states.get(status, 0) + 1
    ctx.log(f"groupbuy: 2 activities, groups {states}")


def _customer(name: str, phone: str):
    from siyu.customers.services import ContactInput, register_contact

    return register_contact(
        ContactInput(source="mall", name=name, phone=phone, touch_ref=f"demo-gb-{phone}"),
        actor=SYSTEM,
    ).customer


def _purchase(activity: Activity, customer, n: int) -> services.Purchase:
    items = list(activity.items.order_by("id"))
    return services.Purchase(
        sku_id=items[n % len(items)].sku_id,
        address=Address(
            name=customer.name,
            phone="13800138000",
            province="上海市",
            city="上海市",
            district="长宁区",
            detail="仙霞路99号",
        ),
        idempotency_key=f"demo-gb-{activity.pk}-{customer.pk}",
    )


def _group(activity: Activity, members: list, *, paid: int) -> Group | None:
    """The first member opens, the rest join; the first `paid` members pay."""
    from siyu.core.errors import DomainError

    try:
        first = members[0]
        joined = services.open_group(
            Actor.for_customer(first.pk), activity.pk, _purchase(activity, first, 0)
        )
        _pay(joined.member.order_id, first)
        group = joined.group
        for n, customer in enumerate(members[1:], start=1):
            seat = services.join_group(
                Actor.for_customer(customer.pk), group.code, _purchase(activity, customer, n)
            )
            if n < paid:
                _pay(seat.member.order_id, customer)
    except DomainError:
        return None
    group.refresh_from_db()
    return group


def _pay(order_id: int, customer) -> None:
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import DevTrade

    start = payments.start_payment(order_id, method="h5", actor=Actor.for_customer(customer.pk))
    trade = DevTrade.objects.get(out_trade_no=start.payment.out_trade_no)
    devpay.pay(trade.prepay_id)
    payments.sync_payment(start.payment.pk, actor=SYSTEM)


def _settle_refunds(group: Group) -> None:
    from siyu.payments import devpay
    from siyu.payments import services as payments
    from siyu.payments.models import Refund

    order_ids = list(group.members.values_list("order_id", flat=True))
    for refund in Refund.objects.filter(
        order_id__in=order_ids, status__in=("pending", "processing")
    ):
        payments.submit_refund(refund.pk)
        refund.refresh_from_db()
        devpay.settle_refund(refund.out_refund_no)
        payments.sync_refund(refund.pk, actor=SYSTEM)
