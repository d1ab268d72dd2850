"""The demo builds group buys with open, succeeded and failed groups through the real services."""

import io

from siyu.core.demodata import DemoContext
from siyu.groupbuy.models import Activity, Group, Member
from siyu.payments.models import Refund


def test_demo_shows_open_succeeded_and_failed_groups(db):
    from siyu.groupbuy import demo
    from siyu.staff import demo as staff_demo

    ctx = DemoContext(seed=7, customers=0, out=io.StringIO())
    staff_demo.build(ctx)
    demo.build(ctx)
    assert Activity.objects.count() == 2
    states = sorted(Group.objects.values_list("status", flat=True))
    assert states == ["failed", "open", "open", "succeeded", "succeeded"]
    failed = Group.objects.get(status="failed")
    assert sorted(failed.members.values_list("status", flat=True)) == ["refunded", "refunded"]
    assert Refund.objects.filter(order_id__in=failed.members.values("order_id")).count() == 2
    released = Member.objects.filter(group__status="succeeded", released_at__isnull=False)
    assert released.count() == 5
    demo.build(ctx)  # a second run changes nothing
    assert Group.objects.count() == 5
