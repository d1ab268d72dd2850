"""Marketing consent per channel, with its history, and an opt-out honoured everywhere."""

import pytest

from siyu.core.errors import Conflict
from siyu.customers.models import ConsentEvent
from siyu.customers.services import (
    CustomerFilters,
    contactable,
    is_contactable,
    opt_out_everywhere,
    search_customers,
    set_consent,
    withdraw_opt_out,
)

pytestmark = pytest.mark.django_db


def test_consent_is_per_channel_with_time_and_source(system, register):
    c = register()
    assert set_consent(c.pk, "sms", True, actor=system, source="H5 注册页")
    assert not set_consent(c.pk, "sms", True, actor=system, source="H5 注册页")  # no change
    set_consent(c.pk, "sms", False, actor=system, source="回复TD退订")
    assert not is_contactable(c.pk, "sms")
    history = list(ConsentEvent.objects.filter(customer=c).order_by("pk"))
    assert [(e.channel, e.granted, e.source) for e in history] == [
        ("sms", True, "H5 注册页"),
        ("sms", False, "回复TD退订"),
    ]


def test_an_opted_out_customer_is_never_contactable(system, register):
    c, other = register(), register()
    for who in (c, other):
        set_consent(who.pk, "wecom", True, actor=system, source="企微添加")
    opt_out_everywhere(c.pk, actor=system, source="客服电话")
    assert list(contactable("wecom")) == [other]
    assert list(search_customers(system, CustomerFilters(consent="wecom"))) == [other]
    assert list(search_customers(system, CustomerFilters(consent="opted_out"))) == [c]
    with pytest.raises(Conflict) as err:
        set_consent(c.pk, "wecom", True, actor=system, source="销售说的")
    assert err.value.code == "opted_out"
    # the customer asks to hear from the brand again: each channel needs a new yes
    withdraw_opt_out(c.pk, actor=system, source="顾客来电")
    assert not is_contactable(c.pk, "wecom")
    set_consent(c.pk, "wecom", True, actor=system, source="顾客来电")
    assert is_contactable(c.pk, "wecom")
    assert ConsentEvent.objects.filter(customer=c, channel="all").count() == 2


def test_in_pool_follows_consent(system, register):
    c = register()
    assert not c.in_pool
    set_consent(c.pk, "sms", True, actor=system, source="门店")
    c.refresh_from_db()
    assert c.in_pool
    opt_out_everywhere(c.pk, actor=system, source="门店")
    c.refresh_from_db()
    assert not c.in_pool
