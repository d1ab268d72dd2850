"""The demo builds tiers, the annual card and a demo shopper with points, a card and a rewarded
friend, through the real services; the books balance."""

import io

from siyu.core.demodata import DemoContext
from siyu.ledger.checks import verify
from siyu.membership.models import CardPlan, MemberCard, ReferralReward, Tier
from siyu.membership.services import points
from tests import commerce


def test_demo_builds_the_programme_and_a_member_to_show(db):
    from siyu.mall import demo as mall_demo
    from siyu.membership import demo
    from siyu.staff import demo as staff_demo

    commerce.product("演示精华", price_fen=19900, stock=100)
    ctx = DemoContext(seed=7, customers=0, out=io.StringIO())
    staff_demo.build(ctx)
    mall_demo.build(ctx)
    demo.build(ctx)
    shopper = ctx.shared["demo_shopper"]
    assert Tier.objects.count() == 3 and CardPlan.objects.count() == 1
    card = MemberCard.objects.get(customer=shopper)
    assert card.status == "active"
    assert points.balance(shopper.pk) == 800
    assert ReferralReward.objects.get().referrer == shopper
    assert verify() == []
    demo.build(ctx)  # a second run changes nothing
    assert Tier.objects.count() == 3
