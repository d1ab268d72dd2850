"""One record per real person: contacts attach through strong identities, conflicts are asked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.errors import ValidationFailed
from siyu.customers.models import Customer, Identity, MergeSuggestion, Touch
from siyu.customers.services import (
    ContactInput,
    dismiss_suggestion,
    merge_customers,
    register_contact,
)

pytestmark = pytest.mark.django_db


def test_a_new_contact_creates_a_customer_with_its_identities_and_a_touch(system):
    reg = register_contact(
        ContactInput(
            name="李娜",
            phone="+86 139-1234-5678",
            identities={"unionid": "oUnion_abc"},
            source="live",
            source_detail="双11直播间",
        ),
        actor=system,
    )
    c = reg.customer
    assert reg.created and reg.suggestions == []
    assert (c.phone, c.phone_last4, c.source) == ("13912345678", "5678", "live")
    assert sorted(c.identities.values_list("kind", flat=True)) == ["phone", "unionid"]
    assert list(c.touches.values_list("source", "detail")) == [("live", "双11直播间")]


def test_the_same_phone_in_another_format_attaches_and_fills_what_was_missing(system):
    first = register_contact(ContactInput(phone="13912345678", source="tmall"), actor=system)
    again = register_contact(
        ContactInput(
            name="李娜",
            phone="0086 139 1234 5678",
            identities={"wecom_external": "wmEXT1"},
            source="wecom",
            city="杭州",
        ),
        actor=system,
    )
    assert not again.created
    assert again.customer.pk == first.customer.pk
    assert (again.customer.name, again.customer.city) == ("李娜", "杭州")
    assert again.customer.source == "tmall"  # the first source stays
    assert Customer.objects.count() == 1
    assert again.customer.identities.count() == 2
    assert list(again.customer.touches.order_by("pk").values_list("source", flat=True)) == [
        "tmall",
        "wecom",
    ]
    assert again.customer.in_pool  # a WeCom contact is reachable


def test_an_older_contact_becomes_the_first_source(system):
    c = register_contact(ContactInput(phone="13912345678", source="store"), actor=system).customer
    long_ago = timezone.now() - timedelta(days=300)
    register_contact(
        ContactInput(phone="13912345678", source="tmall", occurred_at=long_ago), actor=system
    )
    c.refresh_from_db()
    assert (c.source, c.first_seen_at) == ("tmall", long_ago)


def test_identities_of_two_customers_never_merge_silently(system):
    by_phone = register_contact(ContactInput(phone="13912345678", source="tmall"), actor=system)
    by_union = register_contact(
        ContactInput(identities={"unionid": "oU-1"}, source="wecom"), actor=system
    )
    both = register_contact(
        ContactInput(phone="13912345678", identities={"unionid": "oU-1"}, source="mall"),
        actor=system,
    )
    assert not both.created
    assert both.customer.pk == by_phone.customer.pk  # the phone outranks the unionid
    assert Customer.objects.filter(merged_into__isnull=True).count() == 2
    suggestion = MergeSuggestion.objects.get()
    assert (suggestion.customer_a_id, suggestion.customer_b_id) == (
        by_phone.customer.pk,
        by_union.customer.pk,
    )
    assert suggestion.status == "open"
    assert Identity.objects.get(kind="unionid").customer_id == by_union.customer.pk

    # asking again adds nothing; a pair a person dismissed is not asked again
    register_contact(
        ContactInput(phone="13912345678", identities={"unionid": "oU-1"}, source="mall"),
        actor=system,
    )
    assert MergeSuggestion.objects.count() == 1
    dismiss_suggestion(suggestion.pk, actor=system)
    again = register_contact(
        ContactInput(phone="13912345678", identities={"unionid": "oU-1"}, source="mall"),
        actor=system,
    )
    assert again.suggestions == []
    assert MergeSuggestion.objects.get().status == "dismissed"


def test_a_merged_record_is_never_matched_again(system):
    a = register_contact(ContactInput(phone="13900000001", source="tmall"), actor=system).customer
    b = register_contact(ContactInput(phone="13900000002", source="jd"), actor=system).customer
    merge_customers(a.pk, b.pk, actor=system, reason="same person")
    reg = register_contact(ContactInput(phone="13900000002", source="store"), actor=system)
    assert reg.customer.pk == a.pk


def test_masked_or_malformed_identities_are_refused_with_the_field_named(system):
    with pytest.raises(ValidationFailed) as err:
        register_contact(ContactInput(phone="138****1234", source="tmall"), actor=system)
    assert "phone" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        register_contact(
            ContactInput(identities={"tmall_buyer": "张**"}, source="tmall"), actor=system
        )
    assert "identities.tmall_buyer" in err.value.fields
    with pytest.raises(ValidationFailed) as err:
        register_contact(ContactInput(name="无名", source="nowhere"), actor=system)
    assert set(err.value.fields) == {"source"}
    assert Customer.objects.count() == 0


def test_a_sign_up_with_a_business_key_registers_its_touch_once(system):
    for _ in range(2):
        register_contact(
            ContactInput(phone="13912345678", source="mall", touch_ref="h5-signup-77"),
            actor=system,
        )
    assert Touch.objects.count() == 1


def test_a_clerk_who_adds_a_contact_serves_them(clerk, make_staff):
    from tests.conftest import actor_of

    reg = register_contact(ContactInput(name="周雨", phone="13912345678"), actor=actor_of(clerk))
    assert reg.visible
    assert (reg.customer.owner_user_id, reg.customer.store_id) == (clerk.pk, clerk.store_id)
    # another clerk meeting the same person does not take them over, and does not see them
    other = make_staff("clerk")
    again = register_contact(ContactInput(phone="13912345678"), actor=actor_of(other))
    assert again.customer.pk == reg.customer.pk
    assert again.customer.owner_user_id == clerk.pk
    assert not again.visible
