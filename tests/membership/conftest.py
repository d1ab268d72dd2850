"""Builders for membership tests: real checkout, dev payments and the orders app's own
fulfilment and after-sales services, so points, cards and referrals react to the events exactly
as they do in production."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.membership.models import CardPlan, Tier
from siyu.membership.services.program import program
from tests import commerce

SYSTEM = Actor.system("test")


def buy(customer, sku, quantity=1, **context):
    """Place and pay an order for `quantity` of `sku` (checkout context e.g. use_points=True)."""
    from django.test import TestCase

    order = commerce.place(customer, [(sku, quantity)], context=context)
    # after-commit followers (a card-only order is delivered then) run as in production
    with TestCase.captureOnCommitCallbacks(execute=True):
        return commerce.pay(order)


def complete(order):
    """Ship and confirm receipt (the order completes: points are earned)."""
    from siyu.orders import services as orders

    order.refresh_from_db()
    if order.status == "paid":
        orders.ship(order.pk, actor=SYSTEM, carrier="SF", tracking_no=f"SF{order.pk:08d}")
    order.refresh_from_db()
    if order.status in ("shipped", "delivered"):
        orders.confirm_receipt(order.pk, actor=SYSTEM)
    order.refresh_from_db()
    return order


def close(order):
    """Let the after-sales window run out: the order closes."""
    from django.conf import settings

    from siyu.orders import services as orders

    later = timezone.now() + timedelta(days=settings.SIYU_AFTER_SALES_DAYS + 1)
    orders.close_due(now=later)
    order.refresh_from_db()
    return order


def refund(order, line=None, amount_fen=None, quantity=None):
    """Refund (part of) a line through after-sales, approved by the merchant and settled at the
    dev provider."""
    from siyu.orders import services as orders

    line = line or order.lines.first()
    case = orders.request_after_sale(
        order.pk,
        actor=SYSTEM,
        kind="refund_only",
        quantities={line.pk: quantity or line.quantity},
        amounts={line.pk: amount_fen} if amount_fen is not None else None,
        reason="not_wanted",
    )
    orders.approve_after_sale(case.pk, actor=SYSTEM)
    commerce.settle_refunds(order)
    order.refresh_from_db()
    return order


def set_program(**changes):
    row = program()
    for k, v in changes.items():
        setattr(row, k, v)
    row.save()
    return row


@pytest.fixture
def goods(db):
    """A ¥199 product with plenty of stock."""
    return commerce.sku_of(commerce.product("玻尿酸保湿精华", price_fen=19900, stock=1000))


@pytest.fixture
def shopper(db):
    return commerce.customer("林小姐")


@pytest.fixture
def card_plan(db):
    """The ¥365 annual card, sold as a catalogue SKU."""
    sku = commerce.sku_of(commerce.product("年卡会员", price_fen=36500, stock=100000))
    return CardPlan.objects.create(
        name="年卡",
        sku=sku,
        duration_days=365,
        discount_percent=5,
        member_price=True,
        free_shipping=True,
    )


@pytest.fixture
def tiers(db):
    return [
        Tier.objects.create(
            name="银卡",
            rank=1,
            min_spend_fen=50000,
            discount_percent=0,
            points_multiplier_percent=120,
        ),
        Tier.objects.create(
            name="金卡",
            rank=2,
            min_spend_fen=200000,
            discount_percent=5,
            free_shipping=True,
            points_multiplier_percent=150,
        ),
    ]


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
