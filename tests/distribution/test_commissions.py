"""Commission lifecycle: pending (paid) -> frozen (completed) -> settled (window closed), with
refunds reversing before settlement and clawing back after."""

import pytest

from siyu.distribution import services
from siyu.distribution.models import Commission, CommissionStatus
from siyu.ledger import accounts as A
from siyu.ledger import services as ledger
from siyu.ledger.checks import verify
from siyu.ledger.models import Clawback, JournalEntry

from .conftest import (
    SYSTEM,
    complete,
    later,
    make_customer,
    make_distributor,
    pay,
    place_order,
    refund,
)


def balances(distributor):
    return ledger.balances(services.owner_of(distributor))


@pytest.fixture
def chain(programme):
    """A top-level distributor who recruited a seller; rates 10% / 3% (the default level)."""
    boss = make_distributor("大区")
    seller = make_distributor("小美", parent=boss)
    return boss, seller


def test_a_paid_sale_credits_the_seller_and_the_recruiter_from_what_was_paid(chain):
    boss, seller = chain
    buyer = make_customer()
    # ¥199 + 2 × ¥50 with a ¥29.90 coupon spread across the lines
    order = place_order(
        buyer, [("面霜", 1, 19900), ("面膜", 2, 5000)], distributor=seller, discount_fen=2990
    )
    pay(order)
    lines = list(order.lines.order_by("line_no"))
    assert [line.paid_fen for line in lines] == [17910, 9000]
    commissions = Commission.objects.order_by("order_line__line_no", "level")
    assert [(c.level, c.distributor_id, c.base_fen, c.amount_fen) for c in commissions] == [
        (1, seller.pk, 17910, 1791),
        (2, boss.pk, 17910, 537),
        (1, seller.pk, 9000, 900),
        (2, boss.pk, 9000, 270),
    ]
    assert all(c.status == CommissionStatus.PENDING for c in commissions)
    assert commissions[0].rate_value == 1000 and commissions[1].rate_value == 300
    assert balances(seller)[A.PENDING] == 2691
    assert balances(boss)[A.PENDING] == 807
    assert verify() == []


def test_one_level_by_default_pays_only_the_seller(db):
    boss = make_distributor("大区")
    seller = make_distributor("小美", parent=boss)
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    assert list(Commission.objects.values_list("level", "distributor_id")) == [(1, seller.pk)]


def test_a_repeated_payment_event_credits_once(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    pay(order)
    services.credit_order(order.pk)
    assert Commission.objects.count() == 2
    assert JournalEntry.objects.filter(kind="earning.credit").count() == 2
    assert balances(seller)[A.PENDING] == 1000


def test_orders_without_a_distributor_earn_nothing(chain):
    order = place_order(make_customer(), [("面霜", 1, 10000)])
    pay(order)
    assert Commission.objects.count() == 0


def test_an_unpaid_order_earns_nothing(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    assert services.credit_order(order.pk) == []
    assert Commission.objects.count() == 0


def test_commission_lifecycle_pending_frozen_settled(chain, programme):
    programme(after_sales_days=7)
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    complete(order)
    c = Commission.objects.get(level=1)
    assert c.status == CommissionStatus.FROZEN
    assert (c.settle_after - c.completed_at).days == 7
    assert balances(seller)[A.FROZEN] == 1000 and balances(seller)[A.PENDING] == 0

    assert services.settle_due(now=later(6)) == 0
    assert services.settle_due(now=later(7.01)) == 2
    c.refresh_from_db()
    assert c.status == CommissionStatus.SETTLED
    assert balances(seller)[A.AVAILABLE] == 1000
    assert [h.to_status for h in c.history.all()] == ["pending", "frozen", "settled"]
    # settling again does nothing
    assert services.settle_due(now=later(30)) == 0
    assert balances(seller)[A.AVAILABLE] == 1000
    assert verify() == []


def test_rates_are_fixed_at_payment_time(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    services.save_level(
        actor=SYSTEM,
        level_id=seller.level_id,
        name=seller.level.name,
        rank=1,
        rate1_bp=2000,
        rate2_bp=500,
    )
    complete(order)
    services.settle_due(now=later(30))
    assert Commission.objects.get(level=1).amount_fen == 1000
    assert balances(seller)[A.AVAILABLE] == 1000


def test_a_partial_refund_before_settlement_reverses_in_proportion(chain):
    boss, seller = chain
    order = place_order(make_customer(), [("面膜", 4, 5000)], distributor=seller)
    pay(order)
    line = order.lines.get()
    refund(line, 5000, "R1", quantity=1)
    refund(line, 5000, "R1", quantity=1, replay=True)  # the same refund reported twice
    l1 = Commission.objects.get(level=1)
    assert (l1.amount_fen, l1.reversed_fen, l1.net_fen) == (2000, 500, 1500)
    assert l1.status == CommissionStatus.PENDING
    assert balances(seller)[A.PENDING] == 1500
    assert balances(boss)[A.PENDING] == 450

    refund(line, 15000, "R2", quantity=3)
    l1.refresh_from_db()
    assert l1.status == CommissionStatus.REVERSED and l1.net_fen == 0
    assert balances(seller)[A.PENDING] == 0 and balances(boss)[A.PENDING] == 0
    # a fully reversed commission does not freeze or settle
    complete(order)
    services.settle_due(now=later(30))
    assert balances(seller) == {k: 0 for k in balances(seller)}
    assert verify() == []


def test_a_refund_in_the_after_sales_window_reverses_frozen_commission(chain):
    _boss, seller = chain
    order = place_order(make_customer(), [("面霜", 1, 10000)], distributor=seller)
    pay(order)
    complete(order)
    refund(order.lines.get(), 10000, "R1")
    c = Commission.objects.get(level=1)
    assert c.status == CommissionStatus.REVERSED
    assert balances(seller)[A.FROZEN] == 0
    assert Clawback.objects.count() == 0


def test_a_refund_after_settlement_claws_back_and_blocks_withdrawal(chain):
    _boss, seller = chain
    buyer = make_customer()
    first = place_order(buyer, [("面霜", 1, 10000)], distributor=seller)
    pay(first)
    complete(first)
    services.settle_due(now=later(8))
    assert balances(seller)[A.AVAILABLE] == 1000
    actor = services_actor(seller)
    w = services.request_withdrawal(seller.pk, 1000, actor=actor)
    assert balances(seller)[A.IN_TRANSIT] == 1000

    refund(first.lines.get(), 10000, "R-late")
    c = Commission.objects.get(order_line__order=first, level=1)
    assert c.status == CommissionStatus.CLAWED_BACK
    clawback = Clawback.objects.get(owner_id=seller.pk)
    assert (clawback.amount_fen, clawback.recovered_fen, clawback.outstanding_fen) == (
        1000,
        0,
        1000,
    )
    assert balances(seller)[A.RECEIVABLE] == 1000
    assert balances(seller)[A.AVAILABLE] == 0

    # the withdrawal requested before cannot be approved while the clawback is outstanding...
    from siyu.ledger.services import WithdrawalBlocked

    with pytest.raises(WithdrawalBlocked):
        ledger.approve_withdrawal(w.pk, actor=SYSTEM)
    # ...rejecting it returns the money, which covers the clawback first
    ledger.reject_withdrawal(w.pk, actor=SYSTEM, reason="order refunded")
    clawback.refresh_from_db()
    assert clawback.outstanding_fen == 0
    assert balances(seller)[A.RECEIVABLE] == 0 and balances(seller)[A.AVAILABLE] == 0
    assert verify() == []


def test_a_clawback_larger_than_the_balance_blocks_withdrawals_until_covered(chain):
    _boss, seller = chain
    big = place_order(make_customer(), [("套装", 1, 50000)], distributor=seller)
    small = place_order(make_customer(), [("面膜", 1, 20000)], distributor=seller)
    for order in (big, small):
        pay(order)
        complete(order)
    services.settle_due(now=later(8))
    actor = services_actor(seller)
    w = services.request_withdrawal(seller.pk, 2000, actor=actor)  # ¥20 in transit
    ledger.approve_withdrawal(w.pk, actor=SYSTEM)
    ledger.execute_payout(w.pk)
    assert balances(seller)[A.AVAILABLE] == 5000  # ¥50 + ¥20 earned, ¥20 withdrawn

    refund(big.lines.get(), 50000, "R-big")  # takes back ¥50 of the ¥50 available
    refund(small.lines.get(), 20000, "R-small")  # takes back ¥20 more: nothing left to take
    assert balances(seller)[A.AVAILABLE] == 0
    assert balances(seller)[A.RECEIVABLE] == 2000
    with pytest.raises(ledger.WithdrawalBlocked):
        services.request_withdrawal(seller.pk, 1000, actor=actor)

    # a later sale settles and covers the debt before anything becomes withdrawable
    later_order = place_order(make_customer(), [("精华", 1, 30000)], distributor=seller)
    pay(later_order)
    complete(later_order)
    services.settle_due(now=later(8))
    assert balances(seller)[A.RECEIVABLE] == 0
    assert balances(seller)[A.AVAILABLE] == 1000
    assert Clawback.objects.filter(closed_at__isnull=True).count() == 0
    services.request_withdrawal(seller.pk, 1000, actor=actor)
    assert verify() == []


def services_actor(distributor):
    from siyu.core.access import Actor

    return Actor.for_customer(distributor.customer_id)
