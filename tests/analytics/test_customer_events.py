"""Stored scores follow customers through merges and erasures (between two scoring runs)."""

from __future__ import annotations

import pytest

from siyu.analytics import services
from siyu.analytics.models import CustomerScore
from siyu.core.access import Actor
from siyu.customers.services import erase_customer, merge_customers
from tests.conftest import actor_of


def score() -> None:
    services.run_scoring(actor=Actor.system("test"))


def stored() -> dict[int, CustomerScore]:
    return {s.customer_id: s for s in CustomerScore.objects.all()}


@pytest.fixture
def crowd(shop):
    """Enough repeat buyers for the models to fit."""
    for i in range(20):
        c = shop.customer(f"crowd{i}")
        for k in range(1 + i % 4):
            shop.order(c, 15 + 31 * k + i, 5000 + 300 * i)
    return shop


def test_a_merged_records_score_row_goes_away_and_the_survivor_keeps_its_own(crowd, owner):
    survivor = crowd.customer("survivor")
    crowd.order(survivor, 10, 12000)
    merged = crowd.customer("merged")
    crowd.order(merged, 40, 8000)
    score()
    before = stored()[survivor.pk]

    merge_customers(survivor.pk, merged.pk, actor=actor_of(owner), reason="same phone")

    after = stored()
    assert merged.pk not in after
    assert after[survivor.pk].orders == before.orders == 1
    assert after[survivor.pk].net_spend_fen == 12000


def test_a_survivor_without_purchases_takes_the_merged_records_scores(crowd, owner):
    survivor = crowd.customer("wecom contact", in_pool=True)
    merged = crowd.customer("tmall buyer", source="tmall")
    crowd.order(merged, 40, 8000)
    crowd.order(merged, 12, 9000)
    score()
    merged_before = stored()[merged.pk]
    assert stored()[survivor.pk].lifecycle == "related"

    merge_customers(survivor.pk, merged.pk, actor=actor_of(owner), reason="same person")

    after = stored()
    assert merged.pk not in after
    moved = after[survivor.pk]
    assert (moved.orders, moved.net_spend_fen, moved.lifecycle) == (
        2,
        17000,
        merged_before.lifecycle,
    )
    assert moved.p_alive == merged_before.p_alive

    # the next run scores the person from both records' orders, under the survivor
    score()
    assert stored()[survivor.pk].orders == 2 and merged.pk not in stored()


def test_an_erased_customer_keeps_no_scores(crowd, owner):
    gone = crowd.customer("erase me")
    crowd.order(gone, 20, 7000)
    keep = crowd.customer("keep me")
    crowd.order(keep, 20, 7000)
    score()
    assert {gone.pk, keep.pk} <= set(stored())

    erase_customer(gone.pk, actor=actor_of(owner), reason="顾客来电要求删除 工单#1")

    assert gone.pk not in stored() and keep.pk in stored()
    score()
    assert gone.pk not in stored()


def test_an_erasure_that_fails_leaves_the_scores_in_place(crowd, owner, operator):
    from siyu.core.errors import PermissionDenied

    c = crowd.customer("still here")
    crowd.order(c, 20, 7000)
    score()
    with pytest.raises(PermissionDenied):
        erase_customer(c.pk, actor=actor_of(operator), reason="请求")
    assert c.pk in stored()
