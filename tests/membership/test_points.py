"""Points: earned when an order completes, spent at checkout within the cap, returned and taken
back on refunds in proportion, expiring at the end of the 12th month, adjusted by operators."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.membership import rules
from siyu.membership.models import PointsAccount, PointsEntry, PointsLot, ProductPointsRule
from siyu.membership.services import points
from tests import commerce

from .conftest import buy, close, complete, refund, set_program

pytestmark = pytest.mark.django_db


def _account(customer):
    return PointsAccount.objects.get(customer=customer)


def _assert_lots_match(customer):
    account = _account(customer)
    open_lots = sum(PointsLot.objects.filter(account=account).values_list("remaining", flat=True))
    assert open_lots == account.balance


def test_a_completed_order_earns_a_point_per_yuan_paid(shopper, goods):
    order = complete(buy(shopper, goods, 2))  # 2 × ¥199, ships free
    assert points.balance(shopper.pk) == 398
    entry = PointsEntry.objects.get(key=f"earn:{order.pk}")
    assert entry.reason == "earn" and entry.delta == 398 and entry.order_id == order.pk
    _assert_lots_match(shopper)


def test_paid_but_not_completed_earns_nothing_yet(shopper, goods):
    buy(shopper, goods)
    assert points.balance(shopper.pk) == 0


def test_completion_delivered_twice_earns_once(shopper, goods):
    order = complete(buy(shopper, goods))
    points.earn_for_order(order.pk)
    assert points.balance(shopper.pk) == 199
    assert PointsEntry.objects.filter(key=f"earn:{order.pk}").count() == 1


def test_product_rules_multiply_fix_or_exclude(shopper, goods):
    double = commerce.sku_of(commerce.product("双倍积分面膜", price_fen=10000))
    fixed = commerce.sku_of(commerce.product("固定积分小样", price_fen=5000))
    none = commerce.sku_of(commerce.product("不积分礼盒", price_fen=5000))
    ProductPointsRule.objects.create(product=double.product, mode="multiplier", value=200)
    ProductPointsRule.objects.create(product=fixed.product, mode="fixed", value=30)
    ProductPointsRule.objects.create(product=none.product, mode="none", value=0)
    order = commerce.pay(commerce.place(shopper, [(double, 1), (fixed, 2), (none, 1)]))
    complete(order)
    assert points.balance(shopper.pk) == 200 + 60


def test_orders_below_the_minimum_earn_nothing(shopper, goods):
    set_program(earn_min_order_fen=50000)
    complete(buy(shopper, goods))
    assert points.balance(shopper.pk) == 0


def test_points_pay_part_of_an_order_within_the_cap(shopper, goods):
    complete(buy(shopper, goods, 5))  # 995 points
    set_program(redeem_max_percent=20, redeem_min_points=100)
    order = buy(shopper, goods, 1, use_points=True)  # 20% of ¥199 = 3980 fen = 3980 points max
    assert order.discount_fen == 995  # all 995 points, 1 fen each
    assert points.balance(shopper.pk) == 0
    assert order.adjustments.filter(code="points").count() == 1
    entry = PointsEntry.objects.get(key=f"redeem:{order.pk}")
    assert entry.delta == -995 and entry.reason == "redeem"


def test_the_cap_limits_the_points_an_order_may_use(shopper, goods):
    complete(buy(shopper, goods, 50))  # 9950 points
    set_program(redeem_max_percent=10, redeem_max_points=0)
    order = buy(shopper, goods, 1, use_points=True)
    assert order.discount_fen == 1990  # 10% of ¥199
    assert points.balance(shopper.pk) == 9950 - 1990


def test_points_are_only_used_when_the_shopper_asks(shopper, goods):
    complete(buy(shopper, goods, 5))
    order = buy(shopper, goods, 1)
    assert order.discount_fen == 0
    assert points.balance(shopper.pk) == 995


def test_below_the_minimum_no_points_are_offered(shopper, goods):
    complete(buy(shopper, goods, 1))  # 199 points
    set_program(redeem_min_points=500)
    order = buy(shopper, goods, 1, use_points=True)
    assert order.discount_fen == 0


def test_cancelling_an_unpaid_order_returns_its_points(shopper, goods):
    from siyu.orders import services as orders

    complete(buy(shopper, goods, 5))
    order = commerce.place(shopper, [(goods, 1)], context={"use_points": True})
    assert points.balance(shopper.pk) == 0
    orders.cancel_order(order.pk, actor=Actor.for_customer(shopper.pk), reason="changed mind")
    assert points.balance(shopper.pk) == 995
    _assert_lots_match(shopper)


def test_a_partial_refund_takes_back_earned_points_in_proportion(shopper, goods):
    order = complete(buy(shopper, goods, 2))  # 398 points
    refund(order, amount_fen=19900, quantity=1)  # half the line
    assert points.balance(shopper.pk) == 199
    refund(order, quantity=1)  # the rest
    assert points.balance(shopper.pk) == 0
    assert _account(shopper).debt == 0


def test_a_refund_after_the_points_were_spent_records_a_debt_not_a_negative_balance(shopper, goods):
    earner = complete(buy(shopper, goods, 5))  # 995 points
    buy(shopper, goods, 1, use_points=True)  # spends them all
    refund(earner)
    account = _account(shopper)
    assert account.balance == 0 and account.debt == 995
    # new points pay the debt first
    complete(buy(shopper, goods, 6))  # 1194 points minus what was spent? 6 x 199 = 1194
    account.refresh_from_db()
    assert account.debt == 0 and account.balance == 1194 - 995
    _assert_lots_match(shopper)


def test_refunding_an_order_paid_with_points_returns_them_in_proportion(shopper, goods):
    complete(buy(shopper, goods, 10))  # 1990 points
    set_program(redeem_max_percent=50)
    order = buy(shopper, goods, 2, use_points=True)  # 1990 points on ¥398
    assert points.balance(shopper.pk) == 0
    refund(order, quantity=1)
    assert points.balance(shopper.pk) == 995
    refund(order, quantity=1)
    assert points.balance(shopper.pk) == 1990
    _assert_lots_match(shopper)


def test_points_expire_at_the_end_of_the_twelfth_month(shopper, goods):
    complete(buy(shopper, goods))
    lot = PointsLot.objects.get(account__customer=shopper)
    local = timezone.localtime(lot.earned_at)
    assert lot.expires_at == rules.expiry_for(lot.earned_at, 12)
    expiry_local = lot.expires_at.astimezone(rules.SHANGHAI)
    assert (expiry_local.day, expiry_local.hour) == (1, 0)
    assert (expiry_local.year * 12 + expiry_local.month) - (local.year * 12 + local.month) == 13
    assert points.expire_due(now=lot.expires_at - timedelta(seconds=1)) == 0
    assert points.expire_due(now=lot.expires_at) == 199
    assert points.expire_due(now=lot.expires_at) == 0  # the job again changes nothing
    assert points.balance(shopper.pk) == 0
    assert PointsEntry.objects.get(key=f"expire:{lot.pk}").delta == -199


def test_expiry_dates_follow_calendar_months():
    earned = datetime(2026, 3, 31, 23, 0, tzinfo=rules.SHANGHAI)
    assert rules.expiry_for(earned, 12) == datetime(2027, 4, 1, tzinfo=rules.SHANGHAI)
    assert rules.expiry_for(datetime(2026, 12, 1, tzinfo=rules.SHANGHAI), 1) == datetime(
        2027, 2, 1, tzinfo=rules.SHANGHAI
    )


def test_spending_takes_the_soonest_expiring_points_first(shopper, goods):
    account = points.account_for(shopper.pk)
    now = timezone.now()
    points._credit(
        account, 100, key="t1", reason="adjust", now=now, expires_at=now + timedelta(days=300)
    )
    points._credit(
        account, 100, key="t2", reason="adjust", now=now, expires_at=now + timedelta(days=30)
    )
    points._debit(account, 150, key="t3", reason="redeem", now=now)
    soon, late = PointsLot.objects.filter(account=account).order_by("expires_at")
    assert (soon.remaining, late.remaining) == (0, 50)


def test_operators_adjust_points_with_a_reason(shopper, operator):
    actor = Actor.for_user(operator)
    entry = points.adjust(shopper.pk, 300, actor=actor, reason="补偿：物流延误", key="k1")
    assert entry.note == "补偿：物流延误" and entry.actor_label == operator.username
    again = points.adjust(shopper.pk, 300, actor=actor, reason="补偿：物流延误", key="k1")
    assert again.pk == entry.pk and points.balance(shopper.pk) == 300
    points.adjust(shopper.pk, -100, actor=actor, reason="误发", key="k2")
    assert points.balance(shopper.pk) == 200


def test_an_adjustment_needs_a_reason_and_cannot_go_below_zero(shopper, operator):
    actor = Actor.for_user(operator)
    with pytest.raises(ValidationFailed) as err:
        points.adjust(shopper.pk, 100, actor=actor, reason=" ", key="k")
    assert "reason" in err.value.fields
    with pytest.raises(points.InsufficientPoints):
        points.adjust(shopper.pk, -1, actor=actor, reason="x", key="k3")


def test_clerks_and_analysts_cannot_adjust_points(shopper, clerk, analyst):
    for user in (clerk, analyst):
        with pytest.raises(PermissionDenied):
            points.adjust(shopper.pk, 1, actor=Actor.for_user(user), reason="x", key="k")


def test_a_shopper_sees_only_their_own_history(shopper, goods):
    other = commerce.customer("王先生")
    complete(buy(shopper, goods))
    assert len(points.history(shopper.pk, actor=Actor.for_customer(shopper.pk))) == 1
    with pytest.raises(PermissionDenied):
        points.history(shopper.pk, actor=Actor.for_customer(other.pk))


def test_closing_the_order_does_not_change_points(shopper, goods):
    order = complete(buy(shopper, goods))
    close(order)
    assert points.balance(shopper.pk) == 199
