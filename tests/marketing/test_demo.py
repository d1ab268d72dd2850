"""The demo builds coupons of every kind, a live flash sale and figures that are not zero,
through the real services."""

import io

import pytest

from siyu.core.demodata import DemoContext
from siyu.marketing import flash, services
from siyu.marketing.models import Coupon, CustomerCoupon, FlashSale


@pytest.mark.django_db
def test_demo_builds_coupons_sales_and_moving_figures():
    from siyu.customers import demo as customers_demo
    from siyu.mall import demo as mall_demo
    from siyu.marketing import demo
    from siyu.orders import demo as orders_demo
    from siyu.staff import demo as staff_demo

    ctx = DemoContext(seed=7, customers=40, out=io.StringIO())
    for module in (staff_demo, customers_demo, orders_demo, mall_demo, demo):
        module.build(ctx)
    kinds = set(Coupon.objects.values_list("kind", flat=True))
    assert kinds == {"fixed", "threshold", "percent", "free_shipping"}
    welcome = Coupon.objects.get(name="新人立减20元")
    figures = services.coupon_figures([welcome.pk])[welcome.pk]
    assert figures["claimed"] >= 30 and figures["used"] >= 1 and figures["gmv_fen"] > 0
    shopper = ctx.shared["demo_shopper"]
    assert CustomerCoupon.objects.filter(customer=shopper).count() >= 3
    live = [s for s in FlashSale.objects.all() if s.is_live()]
    assert len(live) == 1 and flash.storefront_sales()
    demo.build(ctx)  # a second run changes nothing
    assert Coupon.objects.count() == 5
