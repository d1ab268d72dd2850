"""A small brand's customers and orders (tests/conftest.py gives each test its own snapshot)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

_numbers = count(1)


@dataclass
class Shop:
    """Builds customers and orders through the ORM (tests only: the code under test reads in bulk)."""

    store: object
    customers: dict = field(default_factory=dict)

    def customer(self, key: str, **fields):
        from siyu.customers.models import Customer

        fields.setdefault("source", "mall")
        fields.setdefault("name", key)
        c = Customer.objects.create(**fields)
        self.customers[key] = c
        return c

    def order(
        self,
        customer,
        days_ago: float,
        paid_fen: int = 10000,
        *,
        cost_fen: int = 6000,
        status: str = "completed",
        refunded_fen: int = 0,
        paid: bool = True,
        lines: list[tuple[str, int]] | None = None,
        store=None,
    ):
        from siyu.orders.models import Order, OrderLine

        at = timezone.now() - timedelta(days=days_ago)
        order = Order.objects.create(
            number=f"T{next(_numbers):08d}",
            customer=customer,
            channel="mall",
            status=status if paid else "pending_payment",
            payable_fen=paid_fen,
            paid_fen=paid_fen if paid else 0,
            refunded_fen=refunded_fen,
            cost_fen=cost_fen,
            placed_at=at,
            paid_at=at if paid else None,
            store=store,
        )
        for i, (title, amount) in enumerate(lines or [("商品", paid_fen)], start=1):
            OrderLine.objects.create(
                order=order,
                line_no=i,
                product_title=title,
                amount_fen=amount,
                paid_fen=amount if paid else 0,
                cost_fen=int(amount * 0.6),
            )
        return order


@pytest.fixture
def shop(db, store):
    return Shop(store=store)
