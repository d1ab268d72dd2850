"""A small brand with customers of every kind the rule language can tell apart, a snapshot of it,
and a segment index per test."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

import pytest
from django.utils import timezone

from siyu.core.access import Actor, Role

_numbers = count(1)


class World:
    """Customers and orders made through the ORM (the code under test reads them in bulk)."""

    def __init__(self, store, other_store):
        self.store = store
        self.other_store = other_store
        self.c: dict = {}

    def customer(self, key: str, **fields):
        from siyu.customers.models import Customer

        fields.setdefault("source", "mall")
        fields.setdefault("name", key)
        consents = fields.pop("consents", {})
        tags = fields.pop("tags", [])
        c = Customer.objects.create(**fields)
        from siyu.customers.models import Consent, CustomerTag

        for channel, granted in consents.items():
            Consent.objects.create(customer=c, channel=channel, granted=granted)
        for tag in tags:
            CustomerTag.objects.create(customer=c, tag=tag)
        self.c[key] = c
        return c

    def order(self, customer, days_ago: float, paid_fen: int = 10000, *, lines=None, **fields):
        from siyu.orders.models import Order, OrderLine

        at = timezone.now() - timedelta(days=days_ago)
        status = fields.pop("status", "completed")
        paid = status not in ("pending_payment", "cancelled")
        order = Order.objects.create(
            number=f"S{next(_numbers):08d}",
            customer=customer,
            channel=fields.pop("channel", "mall"),
            status=status,
            payable_fen=paid_fen,
            paid_fen=paid_fen if paid else 0,
            refunded_fen=fields.pop("refunded_fen", 0),
            cost_fen=int(paid_fen * 0.4),
            placed_at=at,
            paid_at=at if paid else None,
            **fields,
        )
        for i, (sku, title, amount) in enumerate(lines or [("SKU-X", "商品", paid_fen)], start=1):
            OrderLine.objects.create(
                order=order,
                line_no=i,
                product_title=title,
                external_sku=sku,
                amount_fen=amount,
                paid_fen=amount if paid else 0,
                cost_fen=int(amount * 0.4),
            )
        return order

    def ids(self, *keys) -> set[int]:
        return {self.c[k].pk for k in keys}

    def keys(self, ids) -> set[str]:
        by_id = {c.pk: k for k, c in self.c.items()}
        return {by_id[i] for i in ids}


@pytest.fixture
def tag_group(db):
    from siyu.customers.models import Tag, TagGroup

    group = TagGroup.objects.create(name="兴趣")
    return {name: Tag.objects.create(group=group, name=name) for name in ("美白", "抗老", "敏感肌")}


@pytest.fixture
def world(db, store, other_store, make_staff, tag_group):
    """Customers across two stores and sources, with orders, tags, consent and opt-outs."""
    from siyu.customers.models import Customer

    w = World(store, other_store)
    w.clerk = make_staff(Role.CLERK, username="clerk")
    w.far_clerk = make_staff(Role.CLERK, username="far_clerk", store=other_store)
    today = timezone.localdate()
    w.today = today
    t = tag_group
    # Shanghai store, served by the clerk
    a = w.customer(
        "amy", city="上海", gender="f", birthday=date(today.year - 30, 1, 15), store=store,
        owner_user=w.clerk, owner_kind="clerk", source="tmall", in_pool=True,
        consents={"wecom": True, "sms": True}, tags=[t["美白"], t["抗老"]],
    )  # fmt: skip
    w.order(
        a, 400, 30000, channel="platform", platform="tmall", lines=[("SY-SER-30", "精华", 30000)]
    )
    w.order(a, 100, 20000, lines=[("SY-CRM-50", "面霜", 20000)])
    w.order(a, 20, 60000, lines=[("SY-SER-30", "精华", 40000), ("SY-MSK-5", "面膜", 20000)])
    b = w.customer(
        "bob", city="上海", gender="m", store=store, source="store", in_pool=True,
        consents={"sms": True}, tags=[t["敏感肌"]],
    )  # fmt: skip
    w.order(b, 10, 8000, lines=[("SY-MSK-5", "面膜", 8000)])
    c = w.customer(
        "cat", city="杭州", gender="f", birthday=date(today.year - 45, 12, 31), store=store,
        source="tmall", consents={"wecom": True, "sms": True},
        opted_out_at=timezone.now() - timedelta(days=3),
    )  # fmt: skip
    w.order(c, 200, 15000, channel="platform", platform="tmall")
    # another store
    d = w.customer(
        "dan", city="杭州", store=other_store, owner_user=w.far_clerk, owner_kind="clerk",
        source="jd", in_pool=True, consents={"wecom": True}, tags=[t["美白"]],
    )  # fmt: skip
    w.order(d, 300, 50000, channel="platform", platform="jd")
    w.order(d, 250, 50000, channel="platform", platform="jd")
    w.order(d, 30, 5000, status="refunded", refunded_fen=5000)  # refunded: not a purchase
    e = w.customer(
        "eve",
        city="北京",
        source="referral",
        referred_by=a,
        first_seen_at=timezone.now() - timedelta(days=5),
    )
    w.order(e, 2, 12000, lines=[("SY-SER-30", "精华", 12000)], status="pending_payment")  # unpaid
    w.customer("fay", city="", source="wecom", in_pool=True, consents={"wecom": True, "sms": False})
    # a record merged into amy: its order follows her; an erased customer is never counted
    ghost = w.customer("ghost", city="上海", source="tmall", merged_into=a)
    w.order(ghost, 50, 9900, lines=[("SY-LIP-01", "口红", 9900)])
    w.customer("erased", city="上海", erased_at=timezone.now())
    w.customer_ids = set(Customer.objects.values_list("pk", flat=True))
    return w


@pytest.fixture
def snapshot_of(world):
    """Take the snapshot of the world as it is now; returns a function to take it again.

    Scoring is not run (it is tested in tests/analytics); tests give customers exact scores with
    ``set_scores``. ``scored`` runs the real nightly scoring instead."""
    from siyu.analytics import snapshot

    def take():
        with snapshot.writer() as con:
            return snapshot.refresh(con)

    take()
    return take


@pytest.fixture
def scored(world):
    from siyu.analytics import services as analytics

    return analytics.run_scoring(actor=Actor.system("test"))


@pytest.fixture
def everyone():
    return Actor.system("test")


def set_scores(customer_ids, **values) -> None:
    """Give customers exact scores in the snapshot (the scoring itself is tested elsewhere)."""
    from siyu.analytics import snapshot

    values.setdefault("as_of", timezone.localdate())
    values.setdefault("lifecycle", "purchased")
    cols = ", ".join(["customer_id", *values])
    marks = ", ".join("?" * (len(values) + 1))
    with snapshot.writer() as con:
        for cid in customer_ids:
            old = con.execute("SELECT * FROM scores WHERE customer_id = ?", [cid]).fetchdf()
            con.execute("DELETE FROM scores WHERE customer_id = ?", [cid])
            merged = (
                {k: v for k, v in old.to_dict("records")[0].items() if v == v} if len(old) else {}
            )
            merged.update(values)
            merged["customer_id"] = cid
            cols = ", ".join(merged)
            marks = ", ".join("?" * len(merged))
            con.execute(f"INSERT INTO scores ({cols}) VALUES ({marks})", list(merged.values()))
