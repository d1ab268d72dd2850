"""Paid member cards: bought through checkout and paid through payments, delivered at once,
benefits at checkout, renewals that chain, refunds by the rules, renewal reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.errors import Conflict
from siyu.membership import rules
from siyu.membership.models import CardBenefitUse, CardReminder, MemberCard
from siyu.membership.services import benefits, cards
from tests import commerce

from .conftest import buy, close, refund

pytestmark = pytest.mark.django_db


def test_buying_a_card_through_checkout_activates_it_and_completes_the_order(shopper, card_plan):
    order = buy(shopper, card_plan.sku)
    card = MemberCard.objects.get(customer=shopper)
    assert card.plan == card_plan and card.price_fen == 36500 and card.order_id == order.pk
    assert card.ends_at - card.starts_at == timedelta(days=365)
    order.refresh_from_db()
    assert order.status == "completed"  # delivered electronically
    assert benefits.valid_card(shopper.pk) == card


def test_a_renewal_starts_when_the_current_card_ends(shopper, card_plan):
    buy(shopper, card_plan.sku)
    buy(shopper, card_plan.sku)
    first, second = MemberCard.objects.filter(customer=shopper).order_by("starts_at")
    assert second.starts_at == first.ends_at


def test_card_benefits_apply_at_checkout_and_are_recorded_as_used(shopper, card_plan, goods):
    buy(shopper, card_plan.sku)
    card = MemberCard.objects.get(customer=shopper)
    order = buy(shopper, goods, 1)
    assert order.discount_fen == 995
    use = CardBenefitUse.objects.get(card=card)
    assert use.kind == "discount" and use.amount_fen == 995 and use.order_id == order.pk


def test_a_card_is_never_discounted_by_itself(shopper, card_plan):
    buy(shopper, card_plan.sku)
    renewal = buy(shopper, card_plan.sku)
    assert renewal.discount_fen == 0


def test_free_shipping_from_the_card_counts_as_a_benefit_used(shopper, card_plan):
    card_plan.discount_percent = 0
    card_plan.save()
    cheap = commerce.sku_of(commerce.product("小样", price_fen=3000))
    buy(shopper, card_plan.sku)
    order = buy(shopper, cheap, 1)
    assert order.shipping_fen == 0
    assert CardBenefitUse.objects.get(kind="shipping").amount_fen == 1000


def test_an_unused_card_is_refunded_in_full_within_the_refund_days(shopper, card_plan, operator):
    buy(shopper, card_plan.sku)
    card = MemberCard.objects.get(customer=shopper)
    assert cards.refund_amount(card) == 36500
    amount = cards.refund_card(card.pk, actor=Actor.for_user(operator))
    assert amount == 36500
    order = commerce.settle_refunds(card_order := _order(card)) and _order(card)
    card.refresh_from_db()
    assert card.status == "refunded" and order.refunded_fen == 36500
    assert benefits.valid_card(shopper.pk) is None
    assert card_order.pk == order.pk


def _order(card):
    from siyu.orders.models import Order

    return Order.objects.get(pk=card.order_id)


def test_a_used_card_refunds_the_unused_share_minus_benefits(shopper, card_plan, goods):
    buy(shopper, card_plan.sku)
    buy(shopper, goods, 1)  # 9.95 of benefits
    card = MemberCard.objects.get(customer=shopper)
    expected = 36500 * 364 // 365 - 995
    assert cards.refund_amount(card, now=card.starts_at + timedelta(days=1)) == expected


def test_card_refund_rules():
    start = timezone.now()
    end = start + timedelta(days=365)
    common = {"price_fen": 36500, "starts_at": start, "ends_at": end, "full_refund_days": 7}
    assert (
        rules.card_refund_fen(now=start + timedelta(days=6), benefits_fen=0, used=False, **common)
        == 36500
    )
    assert (
        rules.card_refund_fen(now=start + timedelta(days=8), benefits_fen=0, used=False, **common)
        == 36500 * 357 // 365
    )
    assert (
        rules.card_refund_fen(now=start + timedelta(days=1), benefits_fen=1000, used=True, **common)
        == 36500 * 364 // 365 - 1000
    )
    assert (
        rules.card_refund_fen(now=end - timedelta(days=1), benefits_fen=50000, used=True, **common)
        == 0
    )


def test_no_refund_once_the_order_closed(shopper, card_plan, operator):
    order = buy(shopper, card_plan.sku)
    close(order)
    card = MemberCard.objects.get(customer=shopper)
    assert cards.refund_amount(card) == 0
    with pytest.raises(Conflict):
        cards.refund_card(card.pk, actor=Actor.for_user(operator))


def test_any_refund_of_a_card_line_ends_the_card(shopper, card_plan):
    order = buy(shopper, card_plan.sku)
    refund(order)
    assert MemberCard.objects.get(customer=shopper).status == "refunded"


def test_a_reminder_is_recorded_once_for_a_card_about_to_end(shopper, card_plan):
    buy(shopper, card_plan.sku)
    card = MemberCard.objects.get(customer=shopper)
    assert cards.remind_due(now=card.ends_at - timedelta(days=8)) == 0
    assert cards.remind_due(now=card.ends_at - timedelta(days=6)) == 1
    assert cards.remind_due(now=card.ends_at - timedelta(days=5)) == 0
    assert CardReminder.objects.get().card == card
    assert cards.open_reminder(shopper.pk).card == card


def test_a_renewed_card_gets_no_reminder(shopper, card_plan):
    buy(shopper, card_plan.sku)
    buy(shopper, card_plan.sku)
    first = MemberCard.objects.filter(customer=shopper).order_by("starts_at").first()
    assert cards.remind_due(now=first.ends_at - timedelta(days=3)) == 0
