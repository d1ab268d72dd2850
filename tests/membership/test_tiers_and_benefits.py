"""Tiers by rolling spend: upgrades at once, downgrades after the grace period; tier and card
benefits at checkout (member price, discount, free shipping, points multiplier)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from siyu.membership import rules
from siyu.membership.models import Member, MemberPrice, TierChange
from siyu.membership.services import points
from siyu.membership.services import tiers as tier_service
from siyu.orders.models import Order
from tests import commerce

from .conftest import buy, complete, refund

pytestmark = pytest.mark.django_db


def test_completing_orders_upgrades_the_member_at_once(shopper, goods, tiers):
    silver, gold = tiers
    complete(buy(shopper, goods, 2))  # ¥398
    assert Member.objects.get(customer=shopper).tier is None
    complete(buy(shopper, goods, 1))  # ¥597 in total
    member = Member.objects.get(customer=shopper)
    assert member.tier == silver and member.rolling_spend_fen == 59700
    assert TierChange.objects.filter(member=member, reason="upgrade", to_tier=silver).exists()


def test_refunds_reduce_the_rolling_spend(shopper, goods, tiers):
    order = complete(buy(shopper, goods, 3))
    refund(order, quantity=3)
    assert tier_service.rolling_spend([shopper.pk], now=timezone.now()) == {shopper.pk: 0}


def test_a_member_below_their_tier_keeps_it_for_the_grace_period_then_drops(shopper, goods, tiers):
    silver, _gold = tiers
    complete(buy(shopper, goods, 3))
    assert Member.objects.get(customer=shopper).tier == silver
    # a year and a day later the spend has left the window
    later = timezone.now() + timedelta(days=366)
    assert tier_service.evaluate_all(now=later)["grace"] == 1
    member = Member.objects.get(customer=shopper)
    assert member.tier == silver and member.below_since == later
    assert tier_service.evaluate_all(now=later + timedelta(days=29))["downgrade"] == 0
    assert tier_service.evaluate_all(now=later + timedelta(days=30))["downgrade"] == 1
    assert Member.objects.get(customer=shopper).tier is None


def test_spending_again_during_the_grace_period_keeps_the_tier(shopper, goods, tiers):
    silver, _gold = tiers
    complete(buy(shopper, goods, 3))
    later = timezone.now() + timedelta(days=366)
    tier_service.evaluate_all(now=later)
    Order.objects.filter(customer=shopper).update(paid_at=later)  # as if bought again then
    counts = tier_service.evaluate_all(now=later + timedelta(days=1))
    assert counts["restored"] == 1
    member = Member.objects.get(customer=shopper)
    assert member.tier == silver and member.below_since is None


def test_tier_rules_upgrade_skip_levels_and_downgrade_to_the_qualified_tier():
    silver = rules.TierRule(1, 1, 50000)
    gold = rules.TierRule(2, 2, 200000)
    now = datetime(2026, 11, 1, tzinfo=rules.SHANGHAI)
    assert rules.tier_for_spend(250000, [silver, gold]) == gold
    assert (
        rules.evaluate_tier(
            current=None, qualified=gold, below_since=None, now=now, grace_days=30
        ).change
        == "upgrade"
    )
    decided = rules.evaluate_tier(
        current=gold,
        qualified=silver,
        below_since=now - timedelta(days=30),
        now=now,
        grace_days=30,
    )
    assert (decided.tier_id, decided.change) == (1, "downgrade")


def test_a_tier_discount_applies_at_checkout(shopper, goods, tiers):
    _silver, gold = tiers
    Member.objects.create(customer=shopper, code="MTEST001", tier=gold)
    order = buy(shopper, goods, 1)
    assert order.discount_fen == 995  # 5% of ¥199
    assert order.adjustments.get(code="member_price").ref == f"tier:{gold.pk}"


def test_the_lower_of_member_price_and_discount_wins(shopper, goods, tiers):
    _silver, gold = tiers
    gold.member_price = True
    gold.save()
    MemberPrice.objects.create(sku=goods, price_fen=16900)
    Member.objects.create(customer=shopper, code="MTEST002", tier=gold)
    order = buy(shopper, goods, 2)
    assert order.goods_amount_fen - order.discount_fen == 2 * 16900


def test_free_shipping_tiers_ship_free_below_the_threshold(shopper, tiers):
    _silver, gold = tiers
    cheap = commerce.sku_of(commerce.product("小样", price_fen=3000))
    order = buy(shopper, cheap, 1)
    assert order.shipping_fen == 1000
    Member.objects.create(customer=shopper, code="MTEST003", tier=gold)
    order = buy(shopper, cheap, 1)
    assert order.shipping_fen == 0


def test_a_tier_multiplies_the_points_earned(shopper, goods, tiers):
    silver, _gold = tiers
    Member.objects.create(customer=shopper, code="MTEST004", tier=silver)
    complete(buy(shopper, goods, 1))
    assert points.balance(shopper.pk) == 199 * 120 // 100


def test_tier_progress_shows_what_is_missing(shopper, goods, tiers):
    complete(buy(shopper, goods, 1))
    progress = tier_service.progress(shopper.pk)
    assert progress["next"].name == "银卡"
    assert progress["missing_fen"] == 50000 - 19900
    assert progress["percent"] == 19900 * 100 // 50000
