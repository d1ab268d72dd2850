"""Coupons: giving them out (grant, claim, bulk issue), using them at checkout, and getting them
back when an order is cancelled or refunded."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.core.errors import DomainError, ValidationFailed
from siyu.customers.models import Consent
from siyu.marketing import services
from siyu.marketing.models import CouponNotice, CustomerCoupon
from siyu.orders import services as orders
from siyu.orders.models import OrderAdjustment
from tests.commerce import customer, pay, place, product, settle_refunds, sku_of

from .conftest import OPS, make_coupon, reload

pytestmark = pytest.mark.django_db


# --- grant_coupon (the contract membership and referral rewards rely on) --------------------------


def test_grant_with_the_same_key_returns_the_same_copy_and_never_a_second():
    coupon = make_coupon(per_customer_limit=5)
    c = customer()
    first = services.grant_coupon(
        customer_id=c.pk, coupon_id=coupon.pk, source="membership", idempotency_key="tier:1"
    )
    again = services.grant_coupon(
        customer_id=c.pk, coupon_id=coupon.pk, source="membership", idempotency_key="tier:1"
    )
    assert again.pk == first.pk
    assert CustomerCoupon.objects.filter(customer=c).count() == 1
    assert reload(coupon).issued_count == 1
    assert first.source == "reward" and first.source_detail == "membership"
    assert first.status == "available"


def test_grant_respects_the_per_customer_limit_with_a_clear_code():
    coupon = make_coupon(per_customer_limit=1)
    c = customer()
    services.grant_coupon(customer_id=c.pk, coupon_id=coupon.pk, source="m", idempotency_key="a")
    with pytest.raises(DomainError) as err:
        services.grant_coupon(
            customer_id=c.pk, coupon_id=coupon.pk, source="m", idempotency_key="b"
        )
    assert err.value.code == "coupon_limit_reached"


def test_grant_respects_the_total_quantity():
    coupon = make_coupon(total_quantity=2)
    for n in range(2):
        services.grant_coupon(
            customer_id=customer().pk, coupon_id=coupon.pk, source="m", idempotency_key=f"k{n}"
        )
    with pytest.raises(DomainError) as err:
        services.grant_coupon(
            customer_id=customer().pk, coupon_id=coupon.pk, source="m", idempotency_key="k3"
        )
    assert err.value.code == "coupon_sold_out"
    assert reload(coupon).issued_count == 2


def test_grant_refuses_a_key_reused_for_another_customer_a_draft_and_an_empty_key():
    coupon = make_coupon()
    a, b = customer(), customer()
    services.grant_coupon(customer_id=a.pk, coupon_id=coupon.pk, source="m", idempotency_key="x")
    with pytest.raises(DomainError) as err:
        services.grant_coupon(
            customer_id=b.pk, coupon_id=coupon.pk, source="m", idempotency_key="x"
        )
    assert err.value.code == "coupon_key_reused"
    draft = make_coupon("草稿券", activate=False)
    with pytest.raises(DomainError) as err:
        services.grant_coupon(customer_id=a.pk, coupon_id=draft.pk, source="m", idempotency_key="y")
    assert err.value.code == "coupon_unavailable"
    with pytest.raises(ValidationFailed) as err:
        services.grant_coupon(customer_id=a.pk, coupon_id=coupon.pk, source="m", idempotency_key="")
    assert "idempotency_key" in err.value.fields


def test_a_copy_is_valid_for_n_days_from_the_grant():
    coupon = make_coupon(valid_days=7)
    held = services.grant_coupon(
        customer_id=customer().pk, coupon_id=coupon.pk, source="m", idempotency_key="d"
    )
    assert (held.valid_until - held.valid_from).days == 7


def test_staff_granting_needs_the_issue_permission():
    coupon = make_coupon()
    analyst = Actor(kind="staff", role="analyst", user_id=None, label="a")
    with pytest.raises(DomainError) as err:
        services.grant_coupon(
            customer_id=customer().pk,
            coupon_id=coupon.pk,
            source="m",
            idempotency_key="p",
            actor=analyst,
        )
    assert err.value.code == "permission_denied"


# --- defining coupons -----------------------------------------------------------------------------


def test_an_invalid_coupon_names_every_bad_field():
    with pytest.raises(ValidationFailed) as err:
        services.create_coupon(
            OPS,
            services.CouponInput(
                name="", kind="percent", percent_off=120, scope="products", per_customer_limit=0
            ),
        )
    assert {"name", "percent_off", "product_ids", "valid_until", "per_customer_limit"} <= set(
        err.value.fields
    )


def test_a_threshold_must_exceed_its_amount_off():
    with pytest.raises(ValidationFailed) as err:
        make_coupon(kind="threshold", amount_fen=5000, min_spend_fen=5000)
    assert "min_spend_fen" in err.value.fields


# --- claiming ---------------------------------------------------------------------------------------


def test_a_shopper_claims_from_the_centre_up_to_the_limit():
    coupon = make_coupon(per_customer_limit=2)
    c = customer()
    me = Actor.for_customer(c.pk)
    services.claim(me, coupon.pk)
    services.claim(me, coupon.pk)
    with pytest.raises(DomainError) as err:
        services.claim(me, coupon.pk)
    assert err.value.code == "coupon_limit_reached"
    offer = next(o for o in services.centre(me) if o["coupon"].pk == coupon.pk)
    assert offer["held"] == 2 and not offer["can_claim"]


def test_a_hidden_coupon_is_claimable_only_through_its_share_link():
    coupon = make_coupon(claimable=False)
    me = Actor.for_customer(customer().pk)
    with pytest.raises(DomainError):
        services.claim(me, coupon.pk)
    with pytest.raises(DomainError):
        services.claim(me, coupon.pk, via_share="WRONG")
    held = services.claim(me, coupon.pk, via_share=coupon.share_code)
    assert held.source == "share"


# --- bulk issue and consent -------------------------------------------------------------------------


def test_issuing_to_a_list_gives_everyone_one_copy_but_notifies_only_contactable_customers():
    coupon = make_coupon(per_customer_limit=1)
    yes, no, opted_out = customer("甲"), customer("乙"), customer("丙")
    Consent.objects.create(customer=yes, channel="sms", granted=True)
    Consent.objects.create(customer=opted_out, channel="sms", granted=True)
    opted_out.opted_out_at = opted_out.created_at
    opted_out.save(update_fields=["opted_out_at"])
    services.grant_coupon(
        customer_id=no.pk, coupon_id=coupon.pk, source="m", idempotency_key="before"
    )
    run = services.issue(OPS, coupon.pk, customer_ids=[yes.pk, no.pk, opted_out.pk], notify=True)
    assert (run.requested, run.issued, run.skipped, run.notified) == (3, 2, 1, 1)
    assert set(CouponNotice.objects.values_list("customer_id", flat=True)) == {yes.pk}
    assert CustomerCoupon.objects.filter(customer=opted_out).count() == 1
    assert reload(coupon).issued_count == 3


def test_issuing_stops_at_the_total_quantity():
    coupon = make_coupon(total_quantity=2)
    run = services.issue(OPS, coupon.pk, customer_ids=[customer().pk for _ in range(4)])
    assert (run.issued, run.skipped) == (2, 2)
    assert reload(coupon).issued_count == 2


# --- checkout ---------------------------------------------------------------------------------------


def _give(coupon, c):
    return services.grant_coupon(
        customer_id=c.pk, coupon_id=coupon.pk, source="test", idempotency_key=f"t:{c.pk}"
    )


def test_a_coupon_discount_is_split_across_lines_exactly_and_used_once():
    coupon = make_coupon(kind="fixed", amount_fen=1001)
    c = customer()
    held = _give(coupon, c)
    a, b = product("面霜", price_fen=30000), product("面膜", price_fen=10000)
    order = place(c, [(sku_of(a), 1), (sku_of(b), 2)], context={"coupon_codes": [held.code]})
    assert order.discount_fen == 1001
    shares = sorted(order.lines.values_list("discount_fen", flat=True))
    assert sum(shares) == 1001 and shares == [400, 601]  # 300 : 200 yuan
    held.refresh_from_db()
    assert held.status == "used" and held.order_id == order.pk and held.discount_fen == 1001
    with pytest.raises(DomainError) as err:
        place(c, [(sku_of(b), 1)], context={"coupon_codes": [held.code]})
    assert err.value.code == "coupon_not_usable"


def test_percentage_coupon_respects_its_cap_and_scope():
    serum = product("精华", price_fen=20000)
    other = product("洗面奶", price_fen=20000)
    coupon = make_coupon(
        kind="percent",
        percent_off=30,
        max_discount_fen=5000,
        scope="products",
        product_ids=[serum.pk],
    )
    c = customer()
    held = _give(coupon, c)
    order = place(
        c, [(sku_of(serum), 1), (sku_of(other), 1)], context={"coupon_codes": [held.code]}
    )
    by_title = dict(order.lines.values_list("product_title", "discount_fen"))
    assert by_title == {"精华": 5000, "洗面奶": 0}


def test_threshold_coupon_needs_the_minimum_spend():
    coupon = make_coupon(kind="threshold", amount_fen=3000, min_spend_fen=20000)
    c = customer()
    held = _give(coupon, c)
    cheap = product("小样", price_fen=9900)
    with pytest.raises(DomainError) as err:
        place(c, [(sku_of(cheap), 1)], context={"coupon_codes": [held.code]})
    assert err.value.fields["coupon_codes"] == "below_minimum"
    order = place(c, [(sku_of(cheap), 3)], context={"coupon_codes": [held.code]})
    assert order.discount_fen == 3000


def test_free_shipping_coupon_waives_delivery_and_records_the_saving():
    coupon = make_coupon(kind="free_shipping")
    c = customer()
    held = _give(coupon, c)
    item = product("面膜", price_fen=5000)
    order = place(c, [(sku_of(item), 1)], context={"coupon_codes": [held.code]})
    assert order.shipping_fen == 0 and order.payable_fen == 5000
    held.refresh_from_db()
    assert held.status == "used" and held.discount_fen == 1000
    assert OrderAdjustment.objects.filter(order=order, code="coupon").exists()


def test_someone_elses_coupon_cannot_be_used():
    coupon = make_coupon()
    held = _give(coupon, customer("甲"))
    with pytest.raises(DomainError) as err:
        place(customer("乙"), [(sku_of(product()), 1)], context={"coupon_codes": [held.code]})
    assert err.value.code == "coupon_not_usable"


def test_best_coupon_is_the_one_that_saves_most():
    c = customer()
    small = _give(make_coupon("5元券", amount_fen=500), c)
    big = services.grant_coupon(
        customer_id=c.pk,
        coupon_id=make_coupon("8折券", kind="percent", percent_off=20).pk,
        source="t",
        idempotency_key="big",
    )
    me = Actor.for_customer(c.pk)
    quote = orders.quote(me, orders.Checkout(items=[(sku_of(product(price_fen=19900)).pk, 1)]))
    options = services.usable_for(me, quote)
    assert [o["held"].pk for o in options] == [big.pk, small.pk]
    assert services.best_code(me, quote) == big.code


# --- getting coupons back ---------------------------------------------------------------------------


def test_a_cancelled_order_gives_its_coupon_back():
    c = customer()
    held = _give(make_coupon(), c)
    order = place(c, [(sku_of(product()), 1)], context={"coupon_codes": [held.code]})
    orders.cancel_order(order.pk, actor=Actor.for_customer(c.pk), reason="changed mind")
    held.refresh_from_db()
    assert held.status == "available" and held.order_id is None and held.times_returned == 1
    again = place(c, [(sku_of(product()), 1)], context={"coupon_codes": [held.code]})
    assert again.discount_fen == 2000


def test_a_timed_out_order_gives_its_coupon_back(settings):
    from datetime import timedelta

    from django.utils import timezone

    c = customer()
    held = _give(make_coupon(), c)
    order = place(c, [(sku_of(product()), 1)], context={"coupon_codes": [held.code]})
    assert orders.expire_order(order.pk, now=timezone.now() + timedelta(days=1))
    held.refresh_from_db()
    assert held.status == "available"


def test_a_fully_refunded_order_returns_a_returnable_coupon_only(owner):
    c = customer()
    returnable = _give(make_coupon("可退券"), c)
    kept = services.grant_coupon(
        customer_id=c.pk,
        coupon_id=make_coupon("不退券", refund_policy="keep").pk,
        source="t",
        idempotency_key="kept",
    )
    staff = Actor.for_user(owner)
    results = {}
    for held in (returnable, kept):
        order = pay(place(c, [(sku_of(product()), 1)], context={"coupon_codes": [held.code]}))
        orders.refund_order(order.pk, actor=staff)
        settle_refunds(order)
        assert order.status == "refunded"
        held.refresh_from_db()
        results[held.coupon.name] = held.status
    assert results == {"可退券": "available", "不退券": "used"}


def test_figures_count_claims_uses_gmv_and_cost():
    coupon = make_coupon(amount_fen=1000)
    a, b = customer("甲"), customer("乙")
    used = _give(coupon, a)
    _give(coupon, b)
    order = pay(
        place(a, [(sku_of(product(price_fen=19900)), 1)], context={"coupon_codes": [used.code]})
    )
    figures = services.coupon_figures([coupon.pk])[coupon.pk]
    assert figures == {"claimed": 2, "used": 1, "gmv_fen": order.paid_fen, "cost_fen": 1000}


def test_issuing_to_a_segment_gives_its_members_a_copy(operator):
    from siyu.analytics import snapshot
    from siyu.segments import services as segments

    shanghai = [customer(f"上海{i}", city="上海") for i in range(3)]
    customer("北京客", city="北京")
    with snapshot.writer() as con:
        snapshot.refresh(con)
    staff = Actor.for_user(operator)
    segment = segments.create_segment(
        staff, name="上海客户", rule={"field": "city", "op": "in", "value": ["上海"]}
    )
    coupon = make_coupon("上海专享")
    run = services.issue(staff, coupon.pk, segment_id=segment.pk)
    assert (run.requested, run.issued) == (3, 3)
    assert set(CustomerCoupon.objects.values_list("customer_id", flat=True)) == {
        c.pk for c in shanghai
    }
    assert "上海客户" in run.target_label
