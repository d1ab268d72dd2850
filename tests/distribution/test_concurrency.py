"""Real concurrency on PostgreSQL: the same events delivered at the same instant by many threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from siyu.core import events
from siyu.core.access import Actor
from siyu.core.errors import DomainError
from siyu.distribution import services
from siyu.distribution.models import Commission, CommissionRefund
from siyu.ledger import accounts as A
from siyu.ledger import services as ledger
from siyu.ledger.checks import verify
from siyu.ledger.models import JournalEntry, Withdrawal
from siyu.orders.events import OrderLineRefunded, OrderPaid
from siyu.orders.models import Order

from .conftest import SYSTEM, complete, later, make_customer, make_distributor, pay, place_order

THREADS = 12

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(fn, n: int = THREADS) -> list:
    """Run fn(i) in n threads released together; each thread uses its own connection."""
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=30)
            return fn(i)
        except DomainError as exc:
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


@pytest.fixture
def chain():
    services.update_program(actor=SYSTEM, levels=2)
    boss = make_distributor("大区")
    seller = make_distributor("小美", parent=boss)
    return boss, seller


def test_the_same_payment_event_delivered_concurrently_credits_once(chain):
    boss, seller = chain
    order = place_order(
        make_customer(),
        [("面霜", 1, 19900), ("面膜", 3, 5000), ("精华", 2, 26800)],
        distributor=seller,
    )
    Order.objects.filter(pk=order.pk).update(status="paid", paid_fen=order.payable_fen)

    def deliver(_i):
        with transaction.atomic():
            events.publish(OrderPaid(order.pk, order.customer_id, order.payable_fen))

    race(deliver)
    assert Commission.objects.count() == 6  # 3 lines × 2 levels
    assert JournalEntry.objects.filter(kind="earning.credit").count() == 6
    assert ledger.balances(services.owner_of(seller))[A.PENDING] == 1990 + 1500 + 5360
    assert ledger.balances(services.owner_of(boss))[A.PENDING] == 597 + 450 + 1608
    assert verify() == []


def test_the_same_refund_delivered_concurrently_reverses_once(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面膜", 4, 5000)], distributor=seller)
    pay(order)
    line = order.lines.get()

    def deliver(_i):
        with transaction.atomic():
            events.publish(OrderLineRefunded(order.pk, order.customer_id, line.pk, 5000, 1, "R1"))

    race(deliver)
    assert CommissionRefund.objects.filter(refund_key="R1").count() == 2  # one per level
    assert Commission.objects.get(level=1).net_fen == 1500
    assert ledger.balances(services.owner_of(seller))[A.PENDING] == 1500
    assert verify() == []


def test_settlement_racing_itself_settles_once(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    complete(order, at=later(-10))
    race(lambda _i: services.settle_due(), n=6)
    assert JournalEntry.objects.filter(kind="earning.settle").count() == 2
    assert ledger.balances(services.owner_of(seller))[A.AVAILABLE] == 1000
    assert verify() == []


def test_concurrent_withdrawals_never_overdraw(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 50000)], distributor=seller)
    pay(order)
    complete(order, at=later(-10))
    services.settle_due()
    actor = Actor.for_customer(seller.customer_id)

    results = race(lambda _i: services.request_withdrawal(seller.pk, 3000, actor=actor))
    assert sum(isinstance(r, Withdrawal) for r in results) == 1
    assert Withdrawal.objects.count() == 1
    balances = ledger.balances(services.owner_of(seller))
    assert balances[A.AVAILABLE] == 2000 and balances[A.IN_TRANSIT] == 3000
    assert verify() == []


def test_a_refund_racing_settlement_leaves_the_books_balanced(chain):
    """Whichever wins, the refund is a reversal (before) or a clawback (after), never both."""
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    complete(order, at=later(-10))
    line = order.lines.get()

    def act(i):
        if i % 2:
            return services.settle_due()
        with transaction.atomic():
            events.publish(
                OrderLineRefunded(order.pk, order.customer_id, line.pk, 10000, 1, "R-race")
            )

    race(act, n=8)
    c = Commission.objects.get(level=1)
    assert c.net_fen == 0 and c.status in ("reversed", "clawed_back")
    assert ledger.balances(services.owner_of(seller))[A.AVAILABLE] == 0
    assert verify() == []
