"""The demo builds distributors, referrals and commissions in every state through the real
services, and the books balance."""

import io

import pytest

from siyu.core.demodata import DemoContext
from siyu.distribution.models import Commission, Distributor, DistributorApplication
from siyu.ledger.checks import verify
from siyu.ledger.models import Withdrawal


@pytest.mark.usefixtures("dev_pay")
def test_demo_shows_every_commission_state(db):
    from siyu.distribution import demo
    from siyu.staff import demo as staff_demo

    ctx = DemoContext(seed=7, customers=0, out=io.StringIO())
    staff_demo.build(ctx)
    demo.build(ctx)
    assert Distributor.objects.count() == 5
    assert Distributor.objects.filter(depth=2).count() == 2
    assert DistributorApplication.objects.filter(status="pending").count() == 2
    states = set(Commission.objects.values_list("status", flat=True))
    assert states == {"pending", "frozen", "settled", "reversed", "clawed_back"}
    assert set(Withdrawal.objects.values_list("status", flat=True)) == {"paid", "requested"}
    assert verify() == []
    demo.build(ctx)  # a second run changes nothing
    assert Distributor.objects.count() == 5
