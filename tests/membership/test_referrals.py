"""Referral rewards (老带新 / 分享返现): the friend's first order, once closed, rewards the referrer
once — points, cashback into the ledger (withdrawable), or nothing when the rules say so."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.ledger import accounts as LA
from siyu.ledger import services as ledger
from siyu.ledger.models import JournalEntry
from siyu.membership.models import Referral, ReferralReward
from siyu.membership.services import points, referrals, tiers
from tests import commerce

from .conftest import buy, close, complete, refund, set_program

pytestmark = pytest.mark.django_db


@pytest.fixture
def referrer(db):
    return commerce.customer("老顾客")


@pytest.fixture
def friend(db):
    return commerce.customer("新朋友")


def _invite(referrer, friend):
    code = tiers.member_for(referrer.pk).code
    return referrals.record(friend.pk, code)


def _first_order_closed(friend, goods, quantity=1):
    return close(complete(buy(friend, goods, quantity)))


def test_the_friends_first_order_rewards_the_referrer_with_points_once_closed(
    referrer, friend, goods
):
    set_program(referral_reward_kind="points", referral_points=500)
    referral, outcome = _invite(referrer, friend)
    assert outcome == "recorded"
    order = complete(buy(friend, goods))
    assert points.balance(referrer.pk) == 0  # not while the after-sales window is open
    close(order)
    reward = ReferralReward.objects.get(key=f"referral:{order.pk}")
    assert reward.points == 500 and reward.referrer == referrer
    assert points.balance(referrer.pk) == 500
    referral.refresh_from_db()
    assert referral.status == "rewarded" and referral.first_order_id == order.pk
    referrals.reward_for_order(order.pk)  # delivered again: nothing more
    assert points.balance(referrer.pk) == 500


def test_cashback_goes_to_the_referrers_ledger_balance_and_is_withdrawable(referrer, friend, goods):
    set_program(
        referral_reward_kind="cashback",
        referral_cashback_fen=0,
        referral_cashback_bp=500,
        min_withdrawal_fen=100,
    )
    _invite(referrer, friend)
    order = _first_order_closed(friend, goods)
    owner = referrals.owner_of(referrer.pk)
    assert ledger.balances(owner)[LA.AVAILABLE] == 995  # 5% of ¥199
    entry = JournalEntry.objects.get(key=f"referral:{order.pk}")
    assert sum(entry.lines.values_list("amount_fen", flat=True)) == 0
    withdrawal = referrals.request_withdrawal(
        referrer.pk, 995, actor=Actor.for_customer(referrer.pk)
    )
    assert withdrawal.amount_fen == 995 and withdrawal.owner_kind == "member"


def test_only_the_first_order_counts(referrer, friend, goods):
    _invite(referrer, friend)
    first = _first_order_closed(friend, goods)
    second = _first_order_closed(friend, goods)
    assert ReferralReward.objects.filter(order_id=first.pk).count() == 1
    assert not ReferralReward.objects.filter(order_id=second.pk).exists()


def test_self_referral_is_refused(referrer):
    code = tiers.member_for(referrer.pk).code
    assert referrals.record(referrer.pk, code) == (None, "self")


def test_circular_referral_is_refused(referrer, friend):
    _invite(referrer, friend)
    code = tiers.member_for(friend.pk).code
    assert referrals.record(referrer.pk, code) == (None, "circular")


def test_a_customer_who_already_bought_is_not_a_new_friend(referrer, friend, goods):
    buy(friend, goods)
    referral, outcome = _invite(referrer, friend)
    assert (referral, outcome) == (None, "not_new")


def test_an_unknown_code_records_nothing(friend):
    assert referrals.record(friend.pk, "NOPE") == (None, "unknown_code")


def test_a_refunded_first_order_gives_nothing(referrer, friend, goods):
    _invite(referrer, friend)
    order = complete(buy(friend, goods))
    refund(order)
    close(order)
    assert not ReferralReward.objects.exists()
    assert Referral.objects.get(invitee=friend).status == "no_reward"


def test_the_monthly_count_cap_holds(referrer, goods):
    set_program(referral_reward_kind="points", referral_cap_count=2)
    friends = [commerce.customer(f"朋友{i}") for i in range(3)]
    for f in friends:
        _invite(referrer, f)
        _first_order_closed(f, goods)
    assert ReferralReward.objects.filter(referrer=referrer).count() == 2
    assert Referral.objects.filter(referrer=referrer, note="cap_reached").count() == 1


def test_the_monthly_cashback_cap_cuts_the_last_reward(referrer, goods):
    set_program(referral_reward_kind="cashback", referral_cashback_bp=1000, referral_cap_fen=3000)
    for i in range(2):
        f = commerce.customer(f"朋友{i}")
        _invite(referrer, f)
        _first_order_closed(f, goods)  # 10% of ¥199 = 1990 each
    got = sorted(ReferralReward.objects.values_list("cashback_fen", flat=True))
    assert got == [1010, 1990]


def test_arriving_with_a_share_code_at_checkout_records_the_referral(referrer, friend, goods):
    code = tiers.member_for(referrer.pk).code
    commerce.place(friend, [(goods, 1)], hints={"inv": code})
    assert Referral.objects.get(invitee=friend).referrer == referrer


def test_a_merge_moves_points_and_referrals_to_the_survivor(referrer, friend, goods, operator):
    from siyu.core import events
    from siyu.customers.events import CustomersMerged

    other = commerce.customer("老顾客的另一个号")
    complete(buy(other, goods))
    _invite(other, friend)
    events.publish(CustomersMerged(survivor_id=referrer.pk, merged_id=other.pk))
    assert points.balance(referrer.pk) == 199 and points.balance(other.pk) == 0
    assert Referral.objects.get(invitee=friend).referrer == referrer


def test_an_erasure_drops_the_invitation_code_and_open_referrals(referrer, friend):
    from siyu.core import events
    from siyu.customers.events import CustomerErased

    _invite(referrer, friend)
    events.publish(CustomerErased(customer_id=referrer.pk))
    from siyu.membership.models import Member

    assert Member.objects.get(customer=referrer).code is None
    assert Referral.objects.get(invitee=friend).status == "no_reward"


def test_an_operator_approves_a_members_cashback_withdrawal_in_the_ledger_queue(
    referrer, friend, goods, operator, console_client
):
    set_program(referral_reward_kind="cashback", referral_cashback_bp=1000, min_withdrawal_fen=100)
    _invite(referrer, friend)
    _first_order_closed(friend, goods)
    withdrawal = referrals.request_withdrawal(
        referrer.pk, 1990, actor=Actor.for_customer(referrer.pk)
    )
    client = console_client(operator)
    assert f"member:{referrer.pk}" in client.get("/console/ledger/withdrawals/").content.decode()
    assert client.get(f"/console/ledger/withdrawals/{withdrawal.pk}/").status_code == 200
    response = client.post(f"/console/ledger/withdrawals/{withdrawal.pk}/approve/")
    assert response.status_code == 302
    withdrawal.refresh_from_db()
    assert withdrawal.status in ("approved", "paying", "paid")


def test_nobody_withdraws_someone_elses_cashback(referrer, friend):
    from siyu.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        referrals.request_withdrawal(referrer.pk, 100, actor=Actor.for_customer(friend.pk))
