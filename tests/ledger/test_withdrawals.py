"""Withdrawals: request, approval, payout through WeChat Pay transfers (a local fake speaking the
real protocol), rejection and failure returning the money."""

import pytest

from siyu.core.access import Actor
from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.ledger import accounts as A
from siyu.ledger import services as ledger
from siyu.ledger.checks import verify
from siyu.ledger.models import JournalEntry, Withdrawal, WithdrawalStatus

from .conftest import SYSTEM


def balances(owner):
    return ledger.balances(owner)


def request(owner, amount, *, openid="o-payee", adapter="wechat", name=""):
    return ledger.request_withdrawal(
        owner,
        amount,
        actor=SYSTEM,
        min_fen=1000,
        adapter=adapter,
        payee_openid=openid,
        payee_name=name,
        owner_label="小美",
    )


def approve_and_pay(w):
    ledger.approve_withdrawal(w.pk, actor=SYSTEM)
    return ledger.execute_payout(w.pk)


def test_a_request_holds_the_money_in_transit(earner):
    w = request(earner, 6000)
    assert w.status == WithdrawalStatus.REQUESTED
    assert w.out_bill_no.startswith("SYWD") and w.out_bill_no.isalnum()
    assert balances(earner)[A.AVAILABLE] == 4000
    assert balances(earner)[A.IN_TRANSIT] == 6000
    assert verify() == []


def test_requests_respect_minimum_balance_and_one_at_a_time(earner):
    with pytest.raises(ValidationFailed):
        request(earner, 999)
    with pytest.raises(ledger.InsufficientBalance):
        request(earner, 10001)
    request(earner, 2000)
    with pytest.raises(Conflict):
        request(earner, 2000)


def test_approved_withdrawal_is_paid_by_wechat_transfer(earner, wechat):
    w = approve_and_pay(request(earner, 6000, name="张三"))
    assert w.status == WithdrawalStatus.PAID
    assert w.provider_state == "SUCCESS" and w.provider_bill_no
    bill = wechat.bills[w.out_bill_no]
    assert bill["transfer_amount"] == 6000 and bill["openid"] == "o-payee"
    assert balances(earner)[A.IN_TRANSIT] == 0 and balances(earner)[A.AVAILABLE] == 4000
    paid = JournalEntry.objects.get(key=f"withdrawal:{w.pk}:paid")
    assert paid.kind == "withdrawal.paid"
    assert [h.to_status for h in w.history.all()] == ["requested", "approved", "paying", "paid"]
    assert verify() == []


def test_a_transfer_waiting_for_the_payee_completes_when_they_confirm(earner, wechat):
    wechat.behaviour["o-payee"] = "confirm"
    w = approve_and_pay(request(earner, 5000))
    assert w.status == WithdrawalStatus.PAYING
    assert w.provider_state == "WAIT_USER_CONFIRM" and w.package_info
    assert ledger.refresh_payout(w.pk).status == WithdrawalStatus.PAYING
    wechat.confirm(w.out_bill_no)
    w = ledger.refresh_payout(w.pk)
    assert w.status == WithdrawalStatus.PAID and w.package_info == ""


def test_an_unconfirmed_transfer_expires_and_the_money_returns(earner, wechat):
    wechat.behaviour["o-payee"] = "confirm"
    w = approve_and_pay(request(earner, 5000))
    wechat.expire(w.out_bill_no)
    w = ledger.refresh_payout(w.pk)
    assert w.status == WithdrawalStatus.FAILED
    assert balances(earner)[A.AVAILABLE] == 10000 and balances(earner)[A.IN_TRANSIT] == 0


def test_a_failed_transfer_returns_the_money(earner, wechat):
    wechat.behaviour["o-payee"] = "fail"
    w = approve_and_pay(request(earner, 5000))
    assert w.status == WithdrawalStatus.FAILED and w.failure_reason == "ACCOUNT_NOT_VERIFIED"
    assert balances(earner)[A.AVAILABLE] == 10000
    assert verify() == []


def test_a_lost_answer_is_queried_not_paid_again(earner, wechat):
    wechat.behaviour["o-payee"] = "lost_answer"
    w = approve_and_pay(request(earner, 5000))
    assert w.status == WithdrawalStatus.PAYING and "SYSTEM_ERROR" in w.failure_reason
    # the task runs again (a retry, or a duplicate): same out_bill_no, same single bill
    w = ledger.execute_payout(w.pk)
    w = ledger.refresh_payout(w.pk)
    assert w.status == WithdrawalStatus.PAID
    assert len(wechat.bills) == 1
    posts = [r for r in wechat.requests if r[0] == "POST"]
    assert len(posts) == 2  # both carried the same out_bill_no
    assert JournalEntry.objects.filter(kind="withdrawal.paid").count() == 1


def test_a_transfer_the_provider_never_received_is_sent_again_with_the_same_number(earner, wechat):
    wechat.behaviour["o-payee"] = "not_enough"  # merchant balance empty: no bill created
    w = approve_and_pay(request(earner, 5000))
    assert w.status == WithdrawalStatus.PAYING and "NOT_ENOUGH" in w.failure_reason
    wechat.behaviour["o-payee"] = "success"  # the merchant topped up
    w = ledger.refresh_payout(w.pk)
    assert w.status == WithdrawalStatus.PAID
    assert list(wechat.bills) == [w.out_bill_no]


def test_a_tampered_answer_is_not_believed(earner, wechat):
    wechat.tamper_next = True
    w = approve_and_pay(request(earner, 5000))
    assert w.status == WithdrawalStatus.PAYING
    assert "signature" in w.failure_reason
    assert ledger.refresh_payout(w.pk).status == WithdrawalStatus.PAID


def test_rejection_needs_a_reason_and_returns_the_money(earner):
    w = request(earner, 5000)
    with pytest.raises(ValidationFailed):
        ledger.reject_withdrawal(w.pk, actor=SYSTEM, reason="")
    w = ledger.reject_withdrawal(w.pk, actor=SYSTEM, reason="信息核实中，请联系客服")
    assert w.status == WithdrawalStatus.REJECTED and w.reject_reason.startswith("信息")
    assert balances(earner)[A.AVAILABLE] == 10000
    assert verify() == []


def test_a_paid_or_paying_withdrawal_cannot_be_rejected(earner, wechat):
    from siyu.core.errors import InvalidTransition

    w = approve_and_pay(request(earner, 5000))
    with pytest.raises(InvalidTransition):
        ledger.reject_withdrawal(w.pk, actor=SYSTEM, reason="too late")


def test_only_approvers_decide(earner, clerk, analyst):
    w = request(earner, 5000)
    for user in (clerk, analyst):
        with pytest.raises(PermissionDenied):
            ledger.approve_withdrawal(w.pk, actor=Actor.for_user(user))


def test_approval_runs_the_payout_in_the_background(
    earner, run_tasks, django_capture_on_commit_callbacks
):
    w = request(earner, 5000, adapter="dev")
    with django_capture_on_commit_callbacks(execute=True):
        ledger.approve_withdrawal(w.pk, actor=SYSTEM)
    run_tasks()
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.PAID and w.provider_bill_no.startswith("DEV")
    assert Withdrawal.objects.get().paid_at is not None


def test_stalled_payouts_are_polled(earner, wechat):
    from datetime import timedelta

    from django.utils import timezone

    from siyu.ledger.tasks import poll_payouts

    wechat.behaviour["o-payee"] = "confirm"
    w = approve_and_pay(request(earner, 5000))
    wechat.confirm(w.out_bill_no)
    Withdrawal.objects.filter(pk=w.pk).update(last_attempt_at=timezone.now() - timedelta(minutes=5))
    assert poll_payouts.call() == 1
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.PAID
