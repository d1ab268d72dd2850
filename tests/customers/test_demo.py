"""`siyu demo` builds a believable pool: several sources, owners, tags, consent, repeat buyers."""

import io

import pytest
from django.db.models import Count, F

from siyu.core.demodata import DemoContext
from siyu.customers.models import Customer, CustomerTag, Identity, MergeSuggestion, Ownership
from siyu.orders.models import Order

pytestmark = pytest.mark.django_db


def build_pool(ctx: DemoContext) -> None:
    """The demo steps this area owns (staff, customers, orders), in `siyu demo`'s order; the other
    apps' steps (payments, scoring, the mall) have their own tests."""
    from django.db import transaction

    from siyu.customers import demo as customers_demo
    from siyu.orders import demo as orders_demo
    from siyu.staff import demo as staff_demo

    for step in (staff_demo, customers_demo, orders_demo):
        with transaction.atomic():
            step.build(ctx)


def test_demo_builds_a_pool_with_repeat_buyers_and_is_idempotent():
    out = io.StringIO()
    build_pool(DemoContext(customers=300, out=out))
    customers = Customer.objects.filter(merged_into__isnull=True)
    assert customers.count() >= 300
    sources = set(customers.values_list("source", flat=True))
    assert {"tmall", "jd", "douyin", "store", "referral", "live", "wecom"} <= sources
    # store walk-ins are served by a clerk of a store, with an ownership history row each
    walk_ins = customers.filter(source="store")
    assert walk_ins.exists() and not walk_ins.filter(owner_user__isnull=True).exists()
    assert Ownership.objects.filter(ended_at__isnull=True).count() == (
        customers.exclude(owner_kind="").count()
    )
    assert (
        Identity.objects.filter(kind="tmall_buyer").count()
        == customers.filter(source="tmall").count()
    )
    assert set(CustomerTag.objects.values_list("tag__group__name", flat=True).distinct()) >= {
        "肤质",
        "兴趣",
        "生命周期",
    }
    assert MergeSuggestion.objects.filter(status="open").exists()

    per_customer = Order.objects.values("customer").annotate(n=Count("pk"))
    counts = [row["n"] for row in per_customer]
    assert sum(1 for n in counts if n > 1) > 0.15 * len(counts)  # people come back
    assert max(counts) >= 4
    platform = Order.objects.filter(channel="platform")
    assert platform.exists() and not platform.filter(external_id="").exists()
    store_orders = Order.objects.filter(channel="store")
    assert not store_orders.filter(store__isnull=True).exists()
    assert not store_orders.filter(credited_user__isnull=True).exists()
    assert not Order.objects.filter(cost_fen__gte=F("goods_amount_fen")).exists()

    build_pool(DemoContext(customers=300, out=out))  # a second run adds nothing
    assert Customer.objects.filter(merged_into__isnull=True).count() == customers.count()
    assert "skipped" in out.getvalue()


# a real commit: the handler enqueues on commit, and the worker (run_tasks) needs autocommit
@pytest.mark.django_db(transaction=True)
def test_an_import_refreshes_rule_tags_in_the_background(register, make_order, run_tasks):
    from django.db import transaction

    from siyu.core import events
    from siyu.customers.models import Tag, TagGroup
    from siyu.orders.events import OrdersImported

    group = TagGroup.objects.create(name="价值")
    repeat = Tag.objects.create(
        group=group, name="复购客", rule={"field": "paid_orders", "op": "gte", "value": 2}
    )
    c = register()
    make_order(c)
    make_order(c)
    with transaction.atomic():
        events.publish(OrdersImported(job_id=1, orders_created=2, orders_updated=0))
    assert not CustomerTag.objects.filter(tag=repeat).exists()  # queued, not done inline
    run_tasks()
    assert CustomerTag.objects.filter(tag=repeat, customer=c, by_rule=True).exists()
