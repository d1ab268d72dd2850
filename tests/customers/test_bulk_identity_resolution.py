"""Set-based identity resolution (customers.bulk): the pool's rules, thousands of buyers at once."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from siyu.core import crypto
from siyu.customers import bulk
from siyu.customers.identity import identity_hash
from siyu.customers.models import Customer, Identity, MergeSuggestion, Touch

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 6, 1, 10, 0)


def _customer(name="老客", *identities, **fields):
    customer = Customer.objects.create(name=name, source=fields.pop("source", "store"), **fields)
    for kind, value in identities:
        Identity.objects.create(
            customer=customer, kind=kind, value_hash=identity_hash(kind, value), value=value
        )
    return customer


def _resolve(buyers, **options):
    with transaction.atomic():
        return bulk.resolve_buyers(buyers, source="tmall", source_detail="test import", **options)


def test_fast_hash_is_the_pools_identity_hash():
    hashes = bulk.HashCache()
    assert hashes.of("phone", "13800000000") == identity_hash("phone", "13800000000")
    assert crypto.lookup_hasher()("tmall_buyer", "tb") == crypto.lookup_hash("tmall_buyer", "tb")
    token = crypto.encryptor()("13800000000")
    assert crypto.decrypt(token) == "13800000000" and token.startswith("v1:")


def test_buyers_sharing_an_identity_within_the_batch_become_one_customer():
    buyers = [
        bulk.Buyer("o1", (("tmall_buyer", "tb_a"),), T0, name="甲"),
        bulk.Buyer("o2", (("tmall_buyer", "tb_a"), ("phone", "13800000001")), T0.replace(day=2)),
        bulk.Buyer("o3", (("phone", "13800000001"), ("tmall_buyer", "tb_b")), T0.replace(day=3)),
        bulk.Buyer("o4", (("tmall_buyer", "tb_c"),), T0.replace(day=4)),
        bulk.Buyer("o5", (), T0),  # no usable identity: a customer of its own
    ]
    result = _resolve(buyers)
    assert result.customer_of["o1"] == result.customer_of["o2"] == result.customer_of["o3"]
    assert len({result.customer_of[k] for k in ("o1", "o4", "o5")}) == 3
    assert len(result.created) == 3 and not result.matched
    joined = Customer.objects.get(pk=result.customer_of["o1"])
    assert joined.source == "tmall" and joined.name == "甲"
    assert joined.phone == "13800000001"
    assert joined.first_seen_at == T0.replace(tzinfo=UTC)
    assert sorted(joined.identities.values_list("kind", flat=True)) == [
        "phone",
        "tmall_buyer",
        "tmall_buyer",
    ]


def test_existing_customers_are_matched_and_learn_new_identities():
    old = _customer("王芳", ("phone", "13800000002"))
    result = _resolve([bulk.Buyer("o1", (("tmall_buyer", "tb_w"), ("phone", "13800000002")), T0)])
    assert result.customer_of["o1"] == old.pk
    assert result.matched == {old.pk} and not result.created
    assert set(old.identities.values_list("kind", flat=True)) == {"phone", "tmall_buyer"}
    assert Customer.objects.count() == 1


def test_a_matched_customer_without_a_phone_gets_the_imported_one():
    old = _customer("李雷", ("tmall_buyer", "tb_l"))
    _resolve([bulk.Buyer("o1", (("tmall_buyer", "tb_l"), ("phone", "13800000003")), T0)])
    old.refresh_from_db()
    assert old.phone == "13800000003"
    assert old.phone_hash == identity_hash("phone", "13800000003")


def test_a_buyer_pointing_at_two_customers_attaches_to_one_and_asks_an_operator():
    first = _customer("甲", ("phone", "13800000004"))
    second = _customer("乙", ("tmall_buyer", "tb_two"))
    result = _resolve(
        [bulk.Buyer("o1", (("tmall_buyer", "tb_two"), ("phone", "13800000004")), T0)],
        suggestion_reason="Tmall import #1",
    )
    assert result.customer_of["o1"] == first.pk  # the older record
    assert result.suggestions == 1
    suggestion = MergeSuggestion.objects.get()
    assert (suggestion.customer_a_id, suggestion.customer_b_id) == (first.pk, second.pk)
    assert suggestion.status == "open" and "Tmall import #1" in suggestion.reason
    # never merged silently
    second.refresh_from_db()
    assert second.merged_into_id is None
    # the same conflict again does not open a second suggestion
    assert (
        _resolve(
            [bulk.Buyer("o2", (("tmall_buyer", "tb_two"), ("phone", "13800000004")), T0)]
        ).suggestions
        == 0
    )
    assert MergeSuggestion.objects.count() == 1


def test_merged_tombstones_are_never_matched_their_survivor_is():
    survivor = _customer("留下的")
    tombstone = _customer("合并掉的", ("phone", "13800000005"))
    tombstone.merged_into = survivor
    tombstone.save()
    result = _resolve([bulk.Buyer("o1", (("phone", "13800000005"),), T0)])
    assert result.customer_of["o1"] == survivor.pk
    assert Customer.objects.count() == 2


def test_erased_customers_are_never_matched():
    erased = _customer("", ("phone", "13800000006"), erased_at=datetime(2024, 1, 1, tzinfo=UTC))
    result = _resolve([bulk.Buyer("o1", (("phone", "13800000006"),), T0)])
    assert result.customer_of["o1"] != erased.pk
    assert len(result.created) == 1


def test_touches_are_one_per_customer_and_ref_and_move_first_seen_earlier():
    customer = _customer("早客", first_seen_at=datetime(2024, 6, 1, tzinfo=UTC))
    with transaction.atomic():
        bulk.record_touches({customer.pk: datetime(2024, 5, 1)}, source="tmall", ref="import:1")
        bulk.record_touches({customer.pk: datetime(2024, 4, 1)}, source="tmall", ref="import:1")
        bulk.record_touches({customer.pk: datetime(2024, 7, 1)}, source="tmall", ref="import:2")
    touches = Touch.objects.filter(customer=customer).order_by("ref")
    assert [(t.ref, t.occurred_at.month) for t in touches] == [("import:1", 4), ("import:2", 7)]
    customer.refresh_from_db()
    assert customer.first_seen_at == datetime(2024, 4, 1, tzinfo=UTC)


def test_resolution_costs_a_few_queries_not_one_per_buyer():
    _customer("老客", ("phone", "13800000000"))
    buyers = [
        bulk.Buyer(i, (("tmall_buyer", f"tb{i}"), ("phone", f"1380000{i:04d}")), T0)
        for i in range(2000)
    ]
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        result = bulk.resolve_buyers(buyers, source="tmall")
    assert len(result.created) == 1999 and len(result.matched) == 1
    assert len(queries) < 20


def test_new_customers_get_every_phone_column():
    result = _resolve([bulk.Buyer("o1", (("phone", "13800001234"),), T0, name="新客")])
    customer = Customer.objects.get(pk=result.customer_of["o1"])
    assert customer.phone == "13800001234"
    assert customer.phone_hash == identity_hash("phone", "13800001234")
    assert customer.phone_last4 == "1234"


def test_matched_customers_get_blanks_filled_never_overwritten():
    named = _customer("王芳", ("tmall_buyer", "tb_named"), province="江苏省")
    blank = _customer("", ("tmall_buyer", "tb_blank"))
    _resolve(
        [
            bulk.Buyer(
                "o1",
                (("tmall_buyer", "tb_named"),),
                T0,
                name="别名",
                province="浙江省",
                city="杭州市",
            ),
            bulk.Buyer(
                "o2", (("tmall_buyer", "tb_blank"), ("phone", "13800004321")), T0, name="李雷"
            ),
        ]
    )
    named.refresh_from_db()
    blank.refresh_from_db()
    assert (named.name, named.province, named.city) == ("王芳", "江苏省", "杭州市")
    assert (blank.name, blank.phone, blank.phone_last4) == ("李雷", "13800004321", "4321")


def test_an_older_purchase_makes_the_platform_the_first_source():
    customer = _customer("门店客", source="store", first_seen_at=datetime(2024, 6, 1, tzinfo=UTC))
    with transaction.atomic():
        bulk.record_touches(
            {customer.pk: datetime(2023, 11, 11)}, source="tmall", ref="import:9", detail="天猫导入"
        )
    customer.refresh_from_db()
    assert (customer.source, customer.source_detail) == ("tmall", "天猫导入")
    assert customer.first_seen_at == datetime(2023, 11, 11, tzinfo=UTC)
