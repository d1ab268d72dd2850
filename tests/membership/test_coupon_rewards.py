"""Coupons as membership rewards go through marketing's `grant_coupon` (idempotent by key):
reaching a tier, a card's monthly coupon, a referral reward. A coupon marketing refuses never
breaks the order event that asked for it."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.marketing.models import CustomerCoupon
from siyu.marketing.services import CouponInput, create_coupon
from siyu.membership.models import Referral, ReferralReward
from siyu.membership.services import cards, referrals, tiers
from tests import commerce

from .conftest import buy, close, complete, set_program

pytestmark = pytest.mark.django_db


def _coupon(name="满100减10", total=None):
    return create_coupon(
        Actor.system("test"),
        CouponInput(name=name, kind="fixed", amount_fen=1000, valid_days=30, total_quantity=total),
        activate=True,
    )


def test_reaching_a_tier_grants_its_coupon_once(shopper, goods, tiers):
    silver, _gold = tiers
    coupon = _coupon()
    silver.coupon_id = coupon.pk
    silver.save()
    complete(buy(shopper, goods, 3))
    complete(buy(shopper, goods, 1))
    held = CustomerCoupon.objects.filter(customer=shopper, coupon=coupon)
    assert held.count() == 1
    assert held.get().grant_key.endswith(f"tier:{silver.member_set.get().pk}:{silver.pk}")


def test_a_card_grants_its_monthly_coupon_once_a_month(shopper, card_plan):
    coupon = _coupon("会员月券")
    card_plan.monthly_coupon_id = coupon.pk
    card_plan.save()
    buy(shopper, card_plan.sku)
    assert cards.grant_monthly_coupons() == 1
    cards.grant_monthly_coupons()
    assert CustomerCoupon.objects.filter(customer=shopper, coupon=coupon).count() == 1


def test_a_referral_can_be_rewarded_with_a_coupon(shopper, goods):
    coupon = _coupon("邀请有礼")
    set_program(referral_reward_kind="coupon", referral_coupon_id=coupon.pk)
    friend = commerce.customer("新朋友")
    referrals.record(friend.pk, tiers.member_for(shopper.pk).code)
    order = close(complete(buy(friend, goods)))
    reward = ReferralReward.objects.get(key=f"referral:{order.pk}")
    assert reward.kind == "coupon" and reward.coupon_id == coupon.pk
    assert CustomerCoupon.objects.filter(customer=shopper, coupon=coupon).count() == 1


def test_a_sold_out_reward_coupon_gives_nothing_and_the_order_still_closes(shopper, goods):
    coupon = _coupon("限量券", total=1)
    CustomerCoupon.objects.all().delete()
    set_program(referral_reward_kind="coupon", referral_coupon_id=coupon.pk)
    someone = commerce.customer("抢先的人")
    from siyu.marketing.services import grant_coupon

    grant_coupon(customer_id=someone.pk, coupon_id=coupon.pk, source="test", idempotency_key="x")
    friend = commerce.customer("新朋友")
    referrals.record(friend.pk, tiers.member_for(shopper.pk).code)
    order = close(complete(buy(friend, goods)))
    assert order.status == "closed"
    assert not ReferralReward.objects.exists()
    assert Referral.objects.get(invitee=friend).note == "coupon_unavailable"
