"""Joining in each mode, and binding customers to distributors through share links."""

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.distribution import services
from siyu.distribution.models import (
    Binding,
    Distributor,
    DistributorApplication,
    LinkClick,
)

from .conftest import SYSTEM, make_customer, make_distributor


def as_customer(customer):
    return Actor.for_customer(customer.pk)


def test_open_mode_makes_a_distributor_at_once(db):
    services.update_program(actor=SYSTEM, join_mode="open")
    customer = make_customer("小红")
    d = services.join(customer.pk, actor=as_customer(customer), display_name="小红的店")
    assert d.display_name == "小红的店" and d.depth == 1 and len(d.code) == 8
    with pytest.raises(Conflict):
        services.join(customer.pk, actor=as_customer(customer))


def test_a_customer_can_only_join_for_themselves(db):
    services.update_program(actor=SYSTEM, join_mode="open")
    a, b = make_customer(), make_customer()
    with pytest.raises(PermissionDenied):
        services.join(a.pk, actor=as_customer(b))


def test_application_mode_waits_for_an_operator(db, operator):
    services.update_program(actor=SYSTEM, join_mode="application")
    customer = make_customer("小蓝")
    application = services.join(customer.pk, actor=as_customer(customer), motivation="喜欢这个牌子")
    assert isinstance(application, DistributorApplication)
    with pytest.raises(Conflict):
        services.join(customer.pk, actor=as_customer(customer))
    d = services.approve_application(application.pk, actor=Actor.for_user(operator))
    assert d.customer_id == customer.pk and d.joined_via == "application"
    with pytest.raises(Conflict):
        services.approve_application(application.pk, actor=Actor.for_user(operator))


def test_a_rejected_applicant_can_apply_again(db, operator):
    services.update_program(actor=SYSTEM, join_mode="application")
    customer = make_customer()
    first = services.join(customer.pk, actor=as_customer(customer))
    with pytest.raises(ValidationFailed):
        services.reject_application(first.pk, actor=Actor.for_user(operator), reason=" ")
    services.reject_application(first.pk, actor=Actor.for_user(operator), reason="资料不全")
    second = services.join(customer.pk, actor=as_customer(customer))
    assert second.pk != first.pk


def test_only_operators_review_applications(db, clerk):
    services.update_program(actor=SYSTEM, join_mode="application")
    customer = make_customer()
    application = services.join(customer.pk, actor=as_customer(customer))
    with pytest.raises(PermissionDenied):
        services.approve_application(application.pk, actor=Actor.for_user(clerk))


def test_invitation_mode_needs_a_valid_invitation(db):
    services.update_program(actor=SYSTEM, join_mode="invitation")
    customer = make_customer()
    with pytest.raises(ValidationFailed):
        services.join(customer.pk, actor=as_customer(customer))
    with pytest.raises(ValidationFailed):
        services.join(customer.pk, actor=as_customer(customer), invite_code="NOPE2345")
    invitation = services.issue_invitation(actor=SYSTEM, max_uses=1)
    d = services.join(customer.pk, actor=as_customer(customer), invite_code=invitation.code)
    assert d.joined_via == "invitation"
    other = make_customer()
    with pytest.raises(ValidationFailed):  # used up
        services.join(other.pk, actor=as_customer(other), invite_code=invitation.code)
    # an active distributor's share code invites too, and makes them the recruiter
    d2 = services.join(other.pk, actor=as_customer(other), invite_code=d.code)
    assert d2.parent_id == d.pk


def test_a_bound_customer_who_joins_is_recruited_by_their_distributor(db):
    services.update_program(actor=SYSTEM, join_mode="open")
    inviter = make_distributor("推荐人")
    customer = make_customer()
    services.record_click(inviter.code, customer_id=customer.pk)
    d = services.join(customer.pk, actor=as_customer(customer))
    assert d.parent_id == inviter.pk


def test_first_click_permanent_keeps_the_first_distributor(db):
    services.update_program(actor=SYSTEM, binding_rule="first_permanent")
    a, b = make_distributor("甲"), make_distributor("乙")
    customer = make_customer()
    services.record_click(a.code, customer_id=customer.pk)
    services.record_click(b.code, customer_id=customer.pk, now=timezone.now() + timedelta(days=900))
    binding = services.current_binding(customer.pk, now=timezone.now() + timedelta(days=1000))
    assert binding.distributor_id == a.pk and binding.expires_at is None
    assert list(LinkClick.objects.order_by("id").values_list("outcome", flat=True)) == [
        "bound",
        "kept",
    ]


def test_first_click_for_n_days_then_the_next_click_binds(db):
    services.update_program(actor=SYSTEM, binding_rule="first_days", binding_days=15)
    a, b = make_distributor("甲"), make_distributor("乙")
    customer = make_customer()
    t0 = timezone.now()
    services.record_click(a.code, customer_id=customer.pk, now=t0)
    services.record_click(b.code, customer_id=customer.pk, now=t0 + timedelta(days=14))
    assert services.current_binding(customer.pk, now=t0 + timedelta(days=14)).distributor_id == a.pk
    assert services.current_binding(customer.pk, now=t0 + timedelta(days=15, seconds=1)) is None
    services.record_click(b.code, customer_id=customer.pk, now=t0 + timedelta(days=16))
    assert services.current_binding(customer.pk, now=t0 + timedelta(days=16)).distributor_id == b.pk
    old = Binding.objects.get(distributor=a)
    assert old.end_reason == "expired"


def test_last_click_within_n_days_follows_the_latest_link(db):
    services.update_program(actor=SYSTEM, binding_rule="last_days", binding_days=7)
    a, b = make_distributor("甲"), make_distributor("乙")
    customer = make_customer()
    t0 = timezone.now()
    services.record_click(a.code, customer_id=customer.pk, now=t0)
    services.record_click(b.code, customer_id=customer.pk, now=t0 + timedelta(days=2))
    assert services.current_binding(customer.pk, now=t0 + timedelta(days=3)).distributor_id == b.pk
    # clicking b again extends b's binding from that click
    services.record_click(b.code, customer_id=customer.pk, now=t0 + timedelta(days=8))
    assert services.current_binding(customer.pk, now=t0 + timedelta(days=14)).distributor_id == b.pk
    assert services.current_binding(customer.pk, now=t0 + timedelta(days=15, seconds=1)) is None
    assert Binding.objects.get(distributor=a).end_reason == "replaced"


def test_a_distributors_own_click_does_not_bind(db):
    d = make_distributor("自己")
    _, click = services.record_click(d.code, customer_id=d.customer_id)
    assert click.outcome == "self"
    assert Binding.objects.count() == 0


def test_suspended_distributors_bind_nobody_and_are_not_credited(db):
    d = make_distributor("停用")
    customer = make_customer()
    services.record_click(d.code, customer_id=customer.pk)
    assert services.attribution_for(customer.pk).credited_id == d.pk
    services.set_status(d.pk, actor=SYSTEM, active=False, reason="违规")
    assert services.attribution_for(customer.pk) is None
    other = make_customer()
    assert services.record_click(d.code, customer_id=other.pk) == (None, None)


def test_attribution_records_the_link_used_at_checkout(db):
    d = make_distributor("甲")
    customer = make_customer()
    found = services.attribution_for(customer.pk, link_code=d.code.lower())
    assert found.credited_kind == "distributor" and found.credited_id == d.pk
    assert LinkClick.objects.get().landing == "checkout"


def test_self_purchase_rebate_is_configurable(db):
    d = make_distributor("自购")
    assert services.attribution_for(d.customer_id).credited_id == d.pk
    services.update_program(actor=SYSTEM, self_purchase_rebate=False)
    assert services.attribution_for(d.customer_id) is None
    # bound to someone else, their purchase is that distributor's sale like any customer's
    other = make_distributor("别人")
    services.record_click(other.code, customer_id=d.customer_id)
    assert services.attribution_for(d.customer_id).credited_id == other.pk


def test_self_purchase_earns_no_commission_when_rebates_are_off(db, programme):
    from .conftest import pay, place_order

    d = make_distributor("自购")
    programme(self_purchase_rebate=False)
    order = place_order(d.customer, [("面霜", 1, 10000)], distributor=d)
    pay(order)
    from siyu.distribution.models import Commission

    assert Commission.objects.count() == 0


def test_operators_add_distributors_and_change_their_level(db, operator):
    actor = Actor.for_user(operator)
    level = services.save_level(actor=actor, name="金牌", rank=2, rate1_bp=1500, rate2_bp=500)
    customer = make_customer()
    d = services.add_distributor(customer.pk, actor=actor, display_name="门店合伙人")
    services.change_level(d.pk, level.pk, actor=actor)
    assert Distributor.objects.get(pk=d.pk).level == level


def test_level_rates_never_exceed_the_sale(db):
    with pytest.raises(ValidationFailed):
        services.save_level(actor=SYSTEM, name="太高", rank=9, rate1_bp=9000, rate2_bp=2000)
