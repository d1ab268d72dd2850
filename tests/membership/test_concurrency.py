"""Real concurrency on PostgreSQL: points cannot be double-spent, and events delivered at the same
instant by many threads move points and rewards once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from siyu.core.errors import DomainError
from siyu.ledger import accounts as LA
from siyu.ledger import services as ledger
from siyu.membership.models import (
    PointsAccount,
    PointsEntry,
    PointsLot,
    PointsRedemption,
    Referral,
    ReferralReward,
)
from siyu.membership.services import points, referrals
from tests import commerce

from .conftest import buy, close, complete, set_program

THREADS = 8

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


def _consistent(customer) -> PointsAccount:
    account = PointsAccount.objects.get(customer=customer)
    lots = sum(PointsLot.objects.filter(account=account).values_list("remaining", flat=True))
    entries = sum(PointsEntry.objects.filter(account=account).values_list("delta", flat=True))
    assert account.balance == lots == entries
    return account


def test_a_points_balance_pays_for_one_order_however_many_are_placed_at_once():
    shopper = commerce.customer("林小姐")
    goods = commerce.sku_of(commerce.product("精华", price_fen=19900, stock=1000))
    complete(buy(shopper, goods, 5))  # 995 points
    set_program(redeem_max_percent=100, redeem_min_points=1)

    def place(i):
        return commerce.place(shopper, [(goods, 1)], context={"use_points": True}, key=f"k{i}")

    results = race(place)
    placed = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, points.InsufficientPoints)]
    assert len(placed) == 1 and len(refused) == THREADS - 1
    assert PointsRedemption.objects.get().points == 995
    assert _consistent(shopper).balance == 0


def test_concurrent_adjustments_never_take_the_balance_below_zero():
    from siyu.core.access import Actor

    shopper = commerce.customer("林小姐")
    system = Actor.system("test")
    points.adjust(shopper.pk, 300, actor=system, reason="seed", key="seed")

    results = race(lambda i: points.adjust(shopper.pk, -100, actor=system, reason="x", key=f"t{i}"))
    assert sum(1 for r in results if not isinstance(r, Exception)) == 3
    assert _consistent(shopper).balance == 0


def test_a_completion_delivered_by_many_threads_earns_once():
    shopper = commerce.customer("林小姐")
    goods = commerce.sku_of(commerce.product("精华", price_fen=19900, stock=1000))
    order = complete(buy(shopper, goods, 2))
    race(lambda i: points.earn_for_order(order.pk))
    assert _consistent(shopper).balance == 398
    assert PointsEntry.objects.filter(key=f"earn:{order.pk}").count() == 1


def test_a_referral_reward_delivered_by_many_threads_is_credited_once():
    set_program(referral_reward_kind="cashback", referral_cashback_bp=1000)
    referrer = commerce.customer("老顾客")
    friend = commerce.customer("新朋友")
    goods = commerce.sku_of(commerce.product("精华", price_fen=19900, stock=1000))
    order = close(complete(buy(friend, goods)))
    # the friend's first order closed and the reward is due (as the OrderClosed handler finds it)
    Referral.objects.create(
        referrer=referrer, invitee=friend, status="ordered", first_order_id=order.pk
    )

    def again(i):
        with transaction.atomic():
            return referrals.reward_for_order(order.pk)

    race(again)
    assert ReferralReward.objects.filter(key=f"referral:{order.pk}").count() == 1
    balance = ledger.balances(referrals.owner_of(referrer.pk))
    assert balance[LA.AVAILABLE] == 1990
