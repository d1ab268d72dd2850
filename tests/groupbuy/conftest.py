"""Fixtures and builders for group-buy tests: activities, shoppers, joining and paying."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.groupbuy import services
from siyu.groupbuy.models import Activity
from siyu.orders.services import Address
from tests import commerce

_phones = itertools.count(13900000000)


@pytest.fixture(scope="session")
def _dev_pay_keys(tmp_path_factory):
    return tmp_path_factory.mktemp("devpay-keys")


@pytest.fixture(autouse=True)
def _pay_with_the_dev_provider(_dev_pay_keys, settings):
    """Members pay and are refunded through the payments app's dev provider, synchronously."""
    settings.SIYU_PAYMENT_PROVIDER = "dev"
    settings.SIYU_DEV_PAY_ALLOWED = True
    settings.SIYU_DEV_PAY_KEY_DIR = str(_dev_pay_keys)
    settings.SIYU_DEV_PAY_NOTIFY_URL = ""
    settings.SIYU_DEV_PAY_REFUND_SECONDS = 0


def make_activity(
    *,
    size: int = 3,
    hours: int = 24,
    group_price_fen: int = 9900,
    price_fen: int = 19900,
    stock: int = 100,
    limit: int | None = None,
    drop_ship: bool = False,
) -> Activity:
    product = commerce.product(
        "拼团精华 30ml", price_fen=price_fen, stock=stock, drop_ship=drop_ship
    )
    sku = commerce.sku_of(product)
    now = timezone.now()
    return services.create_activity(
        services.ActivityInput(
            title="三人拼团 · 精华",
            group_size=size,
            time_limit_hours=hours,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=7),
            items=[(sku.pk, group_price_fen)],
            per_customer_limit=limit,
        ),
        actor=Actor.system("test"),
    )


def sku_id_of(activity: Activity) -> int:
    return activity.items.first().sku_id


def purchase(activity: Activity, *, quantity: int = 1, key: str = "", **extra) -> services.Purchase:
    return services.Purchase(
        sku_id=sku_id_of(activity),
        quantity=quantity,
        address=Address(**commerce.ADDRESS),
        idempotency_key=key,
        **extra,
    )


def shopper():
    c = commerce.customer(f"买家{next(_phones) % 1000}")
    return c, Actor.for_customer(c.pk)


def open_paid_group(activity: Activity):
    """An initiator opens a group and pays: the group is open. Returns (group, initiator)."""
    c, who = shopper()
    joined = services.open_group(who, activity.pk, purchase(activity))
    commerce.pay(joined.member.order)
    joined.group.refresh_from_db()
    return joined.group, c


def join(group, activity: Activity, **extra):
    c, who = shopper()
    return c, services.join_group(who, group.code, purchase(activity, **extra))
