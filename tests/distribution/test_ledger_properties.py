"""A randomized stateful test of distribution money: orders placed through distributors, paid
(notifications duplicated), completed, refunded at every stage, settled as time passes, clawed
back, withdrawn, approved, rejected, paid out or failed. After every step:

* every journal entry balances, and every cached balance equals the sum of its lines;
* each commission exists at most once per order line and level;
* the distributor tree is never more than two deep;
* no balance is negative, and every clawback receivable is explained by open clawbacks;
* each distributor's pending and frozen balances equal their pending and frozen commissions, and
  what they hold, were paid and owe adds up to what they earned.

Deterministic (derandomize) and small enough to run in seconds.
"""

from __future__ import annotations

import collections
import itertools
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from siyu.core import events
from siyu.core.access import Actor
from siyu.core.errors import Conflict, DomainError
from siyu.distribution import services
from siyu.distribution.models import Commission, CommissionStatus, Distributor
from siyu.ledger import accounts as A
from siyu.ledger import payouts
from siyu.ledger import services as ledger
from siyu.ledger.checks import verify
from siyu.ledger.models import Account, Clawback, Withdrawal, WithdrawalStatus
from siyu.orders.events import OrderCompleted, OrderLineRefunded, OrderPaid
from siyu.orders.models import Order, OrderLine

from .conftest import make_customer, place_order

SYSTEM = Actor.system("property-test")


class ScriptedPayouts:
    """A payout provider whose next answers the state machine chooses."""

    name = "dev"
    needs_openid = False

    def __init__(self) -> None:
        self.next_state = payouts.SUCCESS
        self.bills: dict[str, str] = {}

    def transfer(self, request):
        state = self.bills.setdefault(request.out_bill_no, self.next_state)
        return payouts.PayoutResult(state=state, provider_state=state.upper())

    def query(self, out_bill_no):
        state = self.bills.get(out_bill_no)
        if state is None:
            return payouts.PayoutResult(state=payouts.NOT_FOUND)
        if state == payouts.PENDING:
            state = self.bills[out_bill_no] = self.next_state
        return payouts.PayoutResult(state=state, provider_state=state.upper())


class DistributionMoney(RuleBasedStateMachine):
    distributors = Bundle("distributors")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.now = timezone.now()
        self.refund_keys = itertools.count(1)
        self.waived = 0
        self.provider = ScriptedPayouts()
        payouts.override("dev", self.provider)
        services.update_program(actor=SYSTEM, levels=2, after_sales_days=2, min_withdrawal_fen=100)

    def teardown(self) -> None:
        payouts.override("dev", None)
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- people -------------------------------------------------------------------------------

    @initialize(target=distributors)
    def a_shop_that_has_been_trading(self):
        """Three distributors (one recruited by another) with history: a settled sale withdrawn
        and then partly refunded (so a clawback is owed), sales in their after-sales window, and
        one just paid."""
        top = services.add_distributor(make_customer().pk, actor=SYSTEM, display_name="一级")
        second = services.add_distributor(make_customer().pk, actor=SYSTEM, parent_id=top.pk)
        other = services.add_distributor(make_customer().pk, actor=SYSTEM, display_name="另一个")
        sales = {}
        for name, seller, price, age in (
            ("old", second, 30000, 5),
            ("recent", second, 20000, 1),
            ("top", top, 12000, 1),
            ("new", other, 8000, None),
        ):
            sales[name] = order = place_order(
                make_customer(), [("面霜", 1, price)], distributor=seller
            )
            self._pay(order, 1)
            if age is not None:
                with transaction.atomic():
                    Order.objects.filter(pk=order.pk).update(
                        status="completed", completed_at=self.now - timedelta(days=age)
                    )
                    events.publish(OrderCompleted(order.pk, order.customer_id))
        services.settle_due(now=self.now)
        available = ledger.balances(services.owner_of(second))[A.AVAILABLE]
        services.request_withdrawal(
            second.pk, available, actor=Actor.for_customer(second.customer_id)
        )
        self._refund(sales["old"], sales["old"].lines.get(), 10000, repeats=1)
        return multiple(top, second, other)

    @precondition(lambda self: Distributor.objects.count() < 8)
    @rule(target=distributors, recruiter=st.one_of(st.none(), distributors))
    def recruit(self, recruiter):
        customer = make_customer()
        if recruiter is not None and recruiter.depth != 1:
            with pytest.raises(services.CommissionDepthExceeded):
                services.add_distributor(customer.pk, actor=SYSTEM, parent_id=recruiter.pk)
            return services.add_distributor(customer.pk, actor=SYSTEM)
        return services.add_distributor(
            customer.pk, actor=SYSTEM, parent_id=recruiter.pk if recruiter else None
        )

    # --- orders -------------------------------------------------------------------------------
    # Rules pick their order among those in the right stage, so histories get deep quickly.

    def _pick(self, data, **filters):
        candidates = list(Order.objects.filter(**filters).order_by("pk"))
        return data.draw(st.sampled_from(candidates)) if candidates else None

    @rule(
        seller=distributors,
        lines=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 40000)), min_size=1, max_size=3),
        discount_share=st.integers(0, 30),
        own_purchase=st.booleans(),
        notifications=st.sampled_from([1, 2, 3, 0]),
    )
    def sell(self, seller, lines, discount_share, own_purchase, notifications):
        """An order through the seller's link, paid at once (the payment notification arriving
        1-3 times) or left unpaid for now."""
        total = sum(q * p for q, p in lines)
        buyer = seller.customer if own_purchase else make_customer()
        titles = [(f"商品{i}", q, p) for i, (q, p) in enumerate(lines)]
        order = place_order(
            buyer, titles, distributor=seller, discount_fen=total * discount_share // 100
        )
        if notifications:
            self._pay(order, notifications)

    def _pay(self, order, times):
        with transaction.atomic():
            Order.objects.filter(pk=order.pk).update(
                status="paid", paid_fen=order.payable_fen, paid_at=self.now
            )
            for _i in range(times):
                events.publish(OrderPaid(order.pk, order.customer_id, order.payable_fen))

    @precondition(lambda self: Order.objects.filter(status="pending_payment").exists())
    @rule(data=st.data(), times=st.integers(1, 3))
    def pay(self, data, times):
        """Payment confirmed later; the notification arrives `times` times."""
        self._pay(self._pick(data, status="pending_payment"), times)

    @precondition(lambda self: Order.objects.filter(status__in=["paid", "completed"]).exists())
    @rule(data=st.data())
    def notification_again(self, data):
        """A payment or completion notification delivered again, any time later."""
        order = self._pick(data, status__in=["paid", "completed"])
        if order is None:
            return
        with transaction.atomic():
            events.publish(OrderPaid(order.pk, order.customer_id, order.payable_fen))
            if order.status == "completed":
                events.publish(OrderCompleted(order.pk, order.customer_id))

    @precondition(lambda self: Order.objects.filter(status="paid").exists())
    @rule(data=st.data())
    def complete(self, data):
        order = self._pick(data, status="paid")
        if order is None:
            return
        with transaction.atomic():
            Order.objects.filter(pk=order.pk).update(status="completed", completed_at=self.now)
            events.publish(OrderCompleted(order.pk, order.customer_id))

    @precondition(lambda self: Order.objects.filter(status__in=["paid", "completed"]).exists())
    @rule(data=st.data())
    def refund(self, data):
        """Refund part or all of a line, at whatever stage the order is (paid, frozen, settled);
        sometimes the same refund is reported twice."""
        order = self._pick(data, status__in=["paid", "completed"])
        if order is None:
            return
        lines = [line for line in order.lines.all() if line.paid_fen > line.refunded_fen]
        if not lines:
            return
        line = data.draw(st.sampled_from(lines))
        remaining = line.paid_fen - line.refunded_fen
        amount = data.draw(st.one_of(st.just(remaining), st.integers(1, remaining)))
        self._refund(order, line, amount, repeats=data.draw(st.integers(1, 2)))

    def _refund(self, order, line, amount, *, repeats):
        key = f"R{next(self.refund_keys)}"
        with transaction.atomic():
            OrderLine.objects.filter(pk=line.pk).update(refunded_fen=line.refunded_fen + amount)
            Order.objects.filter(pk=order.pk).update(refunded_fen=F("refunded_fen") + amount)
            for _i in range(repeats):
                events.publish(
                    OrderLineRefunded(order.pk, order.customer_id, line.pk, amount, 0, key)
                )

    @rule(days=st.sampled_from([3, 1, 0]))
    def time_passes(self, days):
        """The clock moves (sometimes past the 2-day after-sales window) and settlement runs."""
        self.now += timedelta(days=days, hours=1)
        services.settle_due(now=self.now)

    # --- withdrawals --------------------------------------------------------------------------

    @precondition(
        lambda self: Account.objects.filter(purpose=A.AVAILABLE, balance_fen__gt=0).exists()
    )
    @rule(data=st.data())
    def request_withdrawal(self, data):
        """A distributor with money asks for about all of it (sometimes more than they have)."""
        with_money = Account.objects.filter(purpose=A.AVAILABLE, balance_fen__gt=0)
        candidates = list(
            Distributor.objects.filter(pk__in=with_money.values("owner_id")).order_by("pk")
        )
        distributor = data.draw(st.sampled_from(candidates))
        before = ledger.balances(services.owner_of(distributor))
        available = before[A.AVAILABLE]
        amount = data.draw(
            st.one_of(st.just(available), st.integers(1, available), st.just(available + 1))
        )
        try:
            services.request_withdrawal(
                distributor.pk, amount, actor=Actor.for_customer(distributor.customer_id)
            )
        except ledger.WithdrawalBlocked:
            assert before[A.RECEIVABLE] > 0
        except ledger.InsufficientBalance:
            assert amount > before[A.AVAILABLE]
        except Conflict:
            assert Withdrawal.objects.filter(
                owner_id=distributor.pk, status__in=["requested", "approved", "paying"]
            ).exists()
        except DomainError as exc:
            assert exc.code == "validation_error" and amount < 100
        else:
            assert before[A.RECEIVABLE] == 0 and amount <= before[A.AVAILABLE]

    def _open_withdrawal(self, data, status):
        found = list(Withdrawal.objects.filter(status=status).order_by("pk"))
        return data.draw(st.sampled_from(found)) if found else None

    @precondition(lambda self: Withdrawal.objects.filter(status="requested").exists())
    @rule(
        data=st.data(),
        outcome=st.sampled_from([payouts.SUCCESS, payouts.FAILED, payouts.PENDING]),
    )
    def approve_withdrawal(self, data, outcome):
        """An operator approves; the provider pays, fails, or keeps it waiting."""
        w = self._open_withdrawal(data, WithdrawalStatus.REQUESTED)
        self.provider.next_state = outcome
        try:
            ledger.approve_withdrawal(w.pk, actor=SYSTEM)
        except ledger.WithdrawalBlocked:
            assert ledger.outstanding_clawback(services.owner_of(w.owner_id)) > 0
            return
        ledger.execute_payout(w.pk)

    @precondition(lambda self: Withdrawal.objects.filter(status="requested").exists())
    @rule(data=st.data())
    def reject_withdrawal(self, data):
        w = self._open_withdrawal(data, WithdrawalStatus.REQUESTED)
        ledger.reject_withdrawal(w.pk, actor=SYSTEM, reason="property test")

    @precondition(lambda self: Withdrawal.objects.filter(status="paying").exists())
    @rule(data=st.data(), outcome=st.sampled_from([payouts.SUCCESS, payouts.FAILED]))
    def payout_settles(self, data, outcome):
        """A payout left waiting (the payee confirming, a lost answer) is queried again."""
        w = self._open_withdrawal(data, WithdrawalStatus.PAYING)
        self.provider.next_state = outcome
        ledger.refresh_payout(w.pk)

    @precondition(lambda self: Clawback.objects.filter(closed_at__isnull=True).exists())
    @rule(data=st.data())
    def waive_a_clawback(self, data):
        open_ones = list(Clawback.objects.filter(closed_at__isnull=True).order_by("pk"))
        if not open_ones:
            return
        clawback = data.draw(st.sampled_from(open_ones))
        self.waived += clawback.outstanding_fen
        ledger.waive_clawback(clawback.pk, actor=SYSTEM, reason="property test")

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def the_ledger_is_sound(self):
        assert verify() == []

    @invariant()
    def one_commission_per_line_and_level(self):
        assert not (
            Commission.objects.values("order_line", "level").annotate(n=Count("id")).filter(n__gt=1)
        )

    @invariant()
    def never_more_than_two_levels(self):
        assert not Distributor.objects.filter(depth__gt=2).exists()
        assert not Distributor.objects.filter(parent__parent__isnull=False).exists()
        assert not Commission.objects.filter(level__gt=2).exists()

    @invariant()
    def balances_follow_the_commissions(self):
        balances = collections.defaultdict(lambda: collections.defaultdict(int))
        for owner_id, purpose, balance in Account.objects.filter(
            owner_kind="distributor"
        ).values_list("owner_id", "purpose", "balance_fen"):
            assert balance >= 0
            balances[owner_id][purpose] = balance
        net = collections.defaultdict(lambda: collections.defaultdict(int))
        for owner_id, status, total in (
            Commission.objects.values_list("distributor_id", "status")
            .annotate(total=Sum(F("amount_fen") - F("reversed_fen") - F("clawed_back_fen")))
            .order_by()
        ):
            net[owner_id][status] = total
        paid_out = dict(
            Withdrawal.objects.filter(status="paid")
            .values_list("owner_id")
            .annotate(total=Sum("amount_fen"))
            .order_by()
        )
        waived = dict(
            Clawback.objects.values_list("owner_id").annotate(total=Sum("waived_fen")).order_by()
        )
        for owner_id in set(balances) | set(net):
            b, n = balances[owner_id], net[owner_id]
            assert b[A.PENDING] == n[CommissionStatus.PENDING]
            assert b[A.FROZEN] == n[CommissionStatus.FROZEN]
            held = b[A.PENDING] + b[A.FROZEN] + b[A.AVAILABLE] + b[A.IN_TRANSIT]
            earned = sum(n.values()) + waived.get(owner_id, 0)
            assert held + paid_out.get(owner_id, 0) - b[A.RECEIVABLE] == earned


@pytest.mark.django_db
def test_distribution_money_stays_consistent_under_random_histories():
    run_state_machine_as_test(
        DistributionMoney,
        settings=settings(
            max_examples=10,
            stateful_step_count=50,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
