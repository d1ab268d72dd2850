"""Customer-pool fixtures: customers made through the real registration service."""

from __future__ import annotations

import itertools

import pytest

from siyu.core.access import Actor

_phones = itertools.count(13800000001)


@pytest.fixture
def system():
    return Actor.system("test")


@pytest.fixture
def register(db, system):
    """register(name=..., phone=..., source=..., owner=<clerk user>, **ContactInput fields)."""
    from siyu.customers.services import ContactInput, register_contact

    def make(name: str = "王芳", phone: str | None = None, *, owner=None, store=None, **extra):
        data = ContactInput(
            name=name,
            phone=phone if phone is not None else str(next(_phones)),
            source=extra.pop("source", "store"),
            owner_user_id=owner.pk if owner is not None else None,
            **extra,
        )
        customer = register_contact(data, actor=system).customer
        if store is not None and customer.store_id != store.pk:
            customer.store = store
            customer.save(update_fields=["store"])
        return customer

    return make


@pytest.fixture
def make_order(db):
    """make_order(customer, paid_fen=..., days_ago=..., **Order fields) -> a paid order."""
    from datetime import timedelta

    from django.utils import timezone

    from siyu.orders.models import Order, OrderLine

    counter = itertools.count(1)

    def make(customer, paid_fen: int = 19900, days_ago: int = 10, **extra):
        n = next(counter)
        at = timezone.now() - timedelta(days=days_ago)
        fields = {
            "number": f"T{customer.pk}-{n}",
            "channel": "mall",
            "status": "completed",
            "goods_amount_fen": paid_fen,
            "payable_fen": paid_fen,
            "paid_fen": paid_fen,
            "placed_at": at,
            "paid_at": at,
            "receiver_name": customer.name,
            "receiver_phone": customer.phone,
            "receiver_address": "上海市静安区南京西路1号",
        }
        fields.update(extra)
        order = Order.objects.create(customer=customer, **fields)
        OrderLine.objects.create(
            order=order,
            product_title="玻尿酸补水精华 30ml",
            quantity=1,
            unit_price_fen=paid_fen,
            amount_fen=paid_fen,
            paid_fen=paid_fen,
        )
        return order

    return make


@pytest.fixture
def tag_groups(db):
    from siyu.customers.models import Tag, TagGroup

    skin = TagGroup.objects.create(name="肤质", exclusive=True, sort=1)
    interest = TagGroup.objects.create(name="兴趣", exclusive=False, sort=2)
    return {
        "skin": skin,
        "interest": interest,
        "dry": Tag.objects.create(group=skin, name="干皮"),
        "oily": Tag.objects.create(group=skin, name="油皮"),
        "whitening": Tag.objects.create(group=interest, name="美白"),
        "antiaging": Tag.objects.create(group=interest, name="抗老"),
    }
