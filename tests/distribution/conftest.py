"""Factories for distribution tests: customers, distributors, and orders driven through the
orders app's events exactly as checkout and payments publish them."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from siyu.core import events
from siyu.core.access import Actor
from siyu.customers.models import Customer
from siyu.distribution import services
from siyu.orders.events import OrderCompleted, OrderLineRefunded, OrderPaid
from siyu.orders.models import Order, OrderLine

SYSTEM = Actor.system("test")
_numbers = itertools.count(1)


def make_customer(name: str = "") -> Customer:
    n = next(_numbers)
    return Customer.objects.create(name=name or f"顾客{n}", source="mall")


def make_distributor(name: str = "", *, parent=None, level=None):
    customer = make_customer(name)
    return services.add_distributor(
        customer.pk,
        actor=SYSTEM,
        display_name=name or customer.name,
        parent_id=parent.pk if parent else None,
        level_id=level.pk if level else None,
    )


def place_order(customer, lines, *, distributor=None, discount_fen=0) -> Order:
    """An unpaid order: `lines` are (title, quantity, unit_price_fen); an order-level discount is
    spread over the lines the way checkout does."""
    from siyu.core.money import split_proportionally

    amounts = [qty * price for _t, qty, price in lines]
    shares = split_proportionally(discount_fen, amounts)
    total = sum(amounts)
    order = Order.objects.create(
        number=f"T{next(_numbers):08d}",
        customer=customer,
        channel="distributor" if distributor else "mall",
        goods_amount_fen=total,
        discount_fen=discount_fen,
        payable_fen=total - discount_fen,
        credited_kind="distributor" if distributor else "",
        credited_id=distributor.pk if distributor else None,
    )
    for i, ((title, qty, price), amount, share) in enumerate(
        zip(lines, amounts, shares, strict=True), start=1
    ):
        OrderLine.objects.create(
            order=order,
            line_no=i,
            product_title=title,
            quantity=qty,
            unit_price_fen=price,
            amount_fen=amount,
            discount_fen=share,
            paid_fen=amount - share,
        )
    return order


def pay(order: Order, *, at=None) -> None:
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(
            status="paid", paid_fen=order.payable_fen, paid_at=at or timezone.now()
        )
        events.publish(OrderPaid(order.pk, order.customer_id, order.payable_fen))
    order.refresh_from_db()


def complete(order: Order, *, at=None) -> None:
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(
            status="completed", completed_at=at or timezone.now()
        )
        events.publish(OrderCompleted(order.pk, order.customer_id))
    order.refresh_from_db()


def refund(
    line: OrderLine, amount_fen: int, key: str, *, quantity: int = 0, replay: bool = False
) -> None:
    """Refund part of a line (or, with replay=True, only report the same refund again)."""
    from django.db.models import F

    with transaction.atomic():
        if not replay:
            OrderLine.objects.filter(pk=line.pk).update(refunded_fen=F("refunded_fen") + amount_fen)
            Order.objects.filter(pk=line.order_id).update(
                refunded_fen=F("refunded_fen") + amount_fen
            )
        order = Order.objects.get(pk=line.order_id)
        events.publish(
            OrderLineRefunded(order.pk, order.customer_id, line.pk, amount_fen, quantity, key)
        )


def later(days: float):
    return timezone.now() + timedelta(days=days)


@pytest.fixture
def programme(db):
    """Settings with two levels, so chains can be tested; tests override what they need."""

    def configure(**changes):
        return services.update_program(actor=SYSTEM, **changes)

    configure(levels=2)
    return configure


@pytest.fixture
def shopper_client(db):
    """shopper_client(customer) -> a test client with that customer's H5 shopper session."""
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


@pytest.fixture
def dev_pay(tmp_path_factory, settings):
    """Orders are paid and refunded through the payments app's dev provider, synchronously."""
    settings.SIYU_PAYMENT_PROVIDER = "dev"
    settings.SIYU_DEV_PAY_ALLOWED = True
    settings.SIYU_DEV_PAY_KEY_DIR = str(tmp_path_factory.mktemp("devpay-keys"))
    settings.SIYU_DEV_PAY_NOTIFY_URL = ""
    settings.SIYU_DEV_PAY_REFUND_SECONDS = 0
