"""Merging two records of one person: everything moves, nothing is lost, nothing is silent."""

import pytest
from django.db import connection

from siyu.core import events
from siyu.core.errors import Conflict, PermissionDenied
from siyu.core.models import AuditEntry
from siyu.customers.events import CustomersMerged
from siyu.customers.models import (
    Consent,
    ConsentEvent,
    CustomerTag,
    Identity,
    MergeRecord,
    MergeSuggestion,
    Ownership,
    Touch,
)
from siyu.customers.services import (
    ContactInput,
    add_tag,
    merge_customers,
    opt_out_everywhere,
    register_contact,
    set_consent,
)
from siyu.orders.models import Order
from tests.conftest import actor_of

pytestmark = pytest.mark.django_db


def test_merge_moves_everything_to_the_survivor_and_keeps_a_tombstone(
    system, register, make_order, tag_groups, clerk, make_staff, django_capture_on_commit_callbacks
):
    other_clerk = make_staff("clerk")
    survivor = register("王芳", "13900000001", source="store", owner=clerk)
    merged = register(
        "王芳",
        "13900000002",
        source="tmall",
        owner=other_clerk,
        identities={"tmall_buyer": "wangfang88"},
        city="上海",
    )
    add_tag(survivor.pk, tag_groups["dry"].pk, actor=system)
    add_tag(merged.pk, tag_groups["oily"].pk, actor=system)  # exclusive group: survivor's stands
    add_tag(merged.pk, tag_groups["whitening"].pk, actor=system)
    set_consent(survivor.pk, "sms", True, actor=system, source="门店登记")
    set_consent(merged.pk, "sms", False, actor=system, source="短信回复TD")
    set_consent(merged.pk, "wecom", True, actor=system, source="企微好友")
    order = make_order(merged)
    seen = []
    events.subscribe(CustomersMerged)(seen.append)

    with django_capture_on_commit_callbacks(execute=True):
        record = merge_customers(survivor.pk, merged.pk, actor=system, reason="同一手机主人")

    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert merged.merged_into_id == survivor.pk
    assert survivor.city == "上海"  # blanks filled from the merged record
    assert set(Identity.objects.filter(customer=survivor).values_list("kind", flat=True)) == {
        "phone",
        "tmall_buyer",
    }
    assert Identity.objects.filter(customer=merged).count() == 0
    assert Touch.objects.filter(customer=merged).count() == 0
    assert set(
        CustomerTag.objects.filter(customer=survivor).values_list("tag__name", flat=True)
    ) == {"干皮", "美白"}
    consents = dict(Consent.objects.filter(customer=survivor).values_list("channel", "granted"))
    assert consents == {"sms": False, "wecom": True}  # the opt-out won
    assert ConsentEvent.objects.filter(customer=merged).count() == 0
    owners = Ownership.objects.filter(customer=survivor)
    assert owners.count() == 2 and owners.filter(ended_at__isnull=True).get().owner_id == clerk.pk
    assert Order.objects.get(pk=order.pk).customer_id == survivor.pk  # via orders.handlers
    assert record.snapshot["customer"]["phone"] == "139****0002"
    assert "13900000002" not in str(record.snapshot)
    assert record.snapshot["moved"]["identities"] == 2
    entry = AuditEntry.objects.get(action="customers.merged")
    assert entry.object_id == str(survivor.pk) and entry.data["merged_id"] == merged.pk
    assert seen == [CustomersMerged(survivor_id=survivor.pk, merged_id=merged.pk)]


def test_a_merged_record_cannot_be_merged_again(system, register):
    a, b, c = register(), register(), register()
    merge_customers(a.pk, b.pk, actor=system)
    with pytest.raises(Conflict) as err:
        merge_customers(c.pk, b.pk, actor=system)
    assert err.value.code == "customer_merged"
    assert MergeRecord.objects.count() == 1


def test_only_roles_with_the_merge_right_may_merge(register, clerk, store_manager):
    a, b = register(owner=clerk), register(owner=clerk)
    for user in (clerk, store_manager):
        with pytest.raises(PermissionDenied):
            merge_customers(a.pk, b.pk, actor=actor_of(user))


def test_merging_decides_the_suggestion_and_moves_open_ones(system):
    a = register_contact(ContactInput(phone="13900000001"), actor=system).customer
    b = register_contact(ContactInput(identities={"unionid": "u1"}), actor=system).customer
    c = register_contact(ContactInput(identities={"openid": "o1"}), actor=system).customer
    register_contact(ContactInput(phone="13900000001", identities={"unionid": "u1"}), actor=system)
    register_contact(ContactInput(identities={"unionid": "u1", "openid": "o1"}), actor=system)
    ab = MergeSuggestion.objects.get(customer_a=a, customer_b=b)
    merge_customers(a.pk, b.pk, actor=system, suggestion_id=ab.pk)
    ab.refresh_from_db()
    assert ab.status == "merged"
    # "is c the same as b?" is now a question about the survivor a
    assert MergeSuggestion.objects.filter(customer_a=a, customer_b=c, status="open").exists()
    assert not MergeSuggestion.objects.filter(customer_b=c, customer_a=b).exists()


def test_a_global_opt_out_on_the_merged_record_carries_over(system, register):
    a, b = register(), register()
    set_consent(a.pk, "sms", True, actor=system, source="门店")
    opt_out_everywhere(b.pk, actor=system, source="客服电话")
    merge_customers(a.pk, b.pk, actor=system)
    a.refresh_from_db()
    assert a.opted_out_at is not None
    assert not a.in_pool


def test_merge_is_one_statement_per_table_not_per_row(
    system, register, django_assert_max_num_queries
):
    a = register()
    b = register(identities={"unionid": "u-many"})
    from django.utils import timezone

    Touch.objects.bulk_create(
        [
            Touch(customer=b, source="mall", occurred_at=timezone.now(), ref=f"r{i}")
            for i in range(200)
        ]
    )
    with django_assert_max_num_queries(45):
        merge_customers(a.pk, b.pk, actor=system)
    assert Touch.objects.filter(customer=a).count() == 202
    assert connection.vendor in ("sqlite", "postgresql")
