"""Builders for marketing tests: coupons, flash sales, shoppers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.marketing import services
from siyu.marketing.models import Coupon

OPS = Actor(kind="staff", role="operator", user_id=None, label="ops")


@pytest.fixture(scope="session")
def _dev_pay_keys(tmp_path_factory):
    return tmp_path_factory.mktemp("devpay-keys")


@pytest.fixture(autouse=True)
def _pay_with_the_dev_provider(_dev_pay_keys, settings):
    """Orders are paid and refunded through the payments app's dev provider, synchronously."""
    settings.SIYU_PAYMENT_PROVIDER = "dev"
    settings.SIYU_DEV_PAY_ALLOWED = True
    settings.SIYU_DEV_PAY_KEY_DIR = str(_dev_pay_keys)
    settings.SIYU_DEV_PAY_NOTIFY_URL = ""
    settings.SIYU_DEV_PAY_REFUND_SECONDS = 0
    settings.SIYU_SHIPPING_FEE_FEN = 1000
    settings.SIYU_FREE_SHIPPING_FROM_FEN = 99900


def make_coupon(name: str = "新人券", *, kind: str = "fixed", activate: bool = True, **extra):
    defaults = {
        "amount_fen": 2000 if kind in ("fixed", "threshold") else 0,
        "percent_off": 20 if kind == "percent" else 0,
        "min_spend_fen": 10000 if kind == "threshold" else 0,
        "valid_days": 30,
    }
    defaults.update(extra)
    return services.create_coupon(
        OPS, services.CouponInput(name=name, kind=kind, **defaults), activate=activate
    )


def reload(coupon: Coupon) -> Coupon:
    coupon.refresh_from_db()
    return coupon


def minutes(n: float):
    return timezone.now() + timedelta(minutes=n)


@pytest.fixture
def shopper_client(db):
    """shopper_client(customer) -> a test client logged in to the mall as that customer."""
    from importlib import import_module

    from django.conf import settings
    from django.test import Client

    def make(customer) -> Client:
        client = Client()
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store["customer_id"] = customer.pk
        store.save()
        client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE] = store.session_key
        return client

    return make


def make_sale(sku, *, price_fen: int = 9900, quota: int = 10, limit: int = 1, **extra):
    from siyu.marketing import flash

    starts = extra.pop("starts_at", minutes(-1))
    ends = extra.pop("ends_at", minutes(60))
    return flash.create_sale(
        OPS,
        title=extra.pop("title", "双11秒杀"),
        starts_at=starts,
        ends_at=ends,
        items=[flash.ItemInput(sku.pk, price_fen, quota)],
        per_customer_limit=limit,
        publish=extra.pop("publish", True),
        **extra,
    )


def buy(c, sale, quantity: int = 1, *, key: str | None = None):
    """Buy the sale's (first) item as shopper `c`; returns the Order."""
    from siyu.marketing import flash
    from tests.commerce import checkout

    item = sale.items.first()
    return flash.buy(
        Actor.for_customer(c.pk),
        item.pk,
        quantity=quantity,
        checkout=checkout([]),
        idempotency_key=key or f"fs:{c.pk}:{sale.pk}:{quantity}",
    ).order


@pytest.fixture
def redis_mode(settings):
    """Flash sales admitted through Redis (the test Redis), with this run's keys wiped."""
    import os

    url = os.environ.get("SIYU_TEST_REDIS_URL", "")
    settings.REDIS_URL = url
    settings.SIYU_FLASH_SALE_MODE = "auto"
    from siyu.marketing import reservations

    r = reservations.client()
    for key in r.scan_iter("siyu:{fs*"):
        r.delete(key)
    yield r
    for key in r.scan_iter("siyu:{fs*"):
        r.delete(key)
