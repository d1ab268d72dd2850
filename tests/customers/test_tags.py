"""Manual tags, bulk tagging of a filtered list, and tags kept up to date by rules."""

import pytest

from siyu.core.errors import ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers.models import CustomerTag, Tag, TagGroup
from siyu.customers.rules import describe_rule, validate_rule
from siyu.customers.services import (
    CustomerFilters,
    add_tag,
    bulk_tag,
    bulk_untag,
    refresh_rule_tags,
    remove_tag,
)
from tests.conftest import actor_of

pytestmark = pytest.mark.django_db


def tags_of(customer):
    return sorted(CustomerTag.objects.filter(customer=customer).values_list("tag__name", flat=True))


def test_a_tag_in_an_exclusive_group_replaces_the_other(system, register, tag_groups):
    c = register()
    assert add_tag(c.pk, tag_groups["dry"].pk, actor=system)
    assert not add_tag(c.pk, tag_groups["dry"].pk, actor=system)  # idempotent
    add_tag(c.pk, tag_groups["oily"].pk, actor=system)
    add_tag(c.pk, tag_groups["whitening"].pk, actor=system)
    add_tag(c.pk, tag_groups["antiaging"].pk, actor=system)
    assert tags_of(c) == ["抗老", "油皮", "美白"]
    assert remove_tag(c.pk, tag_groups["whitening"].pk, actor=system)
    assert tags_of(c) == ["抗老", "油皮"]


def test_bulk_tagging_tags_the_filtered_list_once(system, register, tag_groups, make_staff):
    live = [register(source="live") for _ in range(5)]
    register(source="tmall")
    filters = CustomerFilters(source="live")
    assert bulk_tag(system, filters, tag_groups["whitening"].pk) == 5
    assert bulk_tag(system, filters, tag_groups["whitening"].pk) == 0
    assert CustomerTag.objects.filter(tag=tag_groups["whitening"]).count() == 5
    assert AuditEntry.objects.filter(action="customers.bulk_tagged").count() == 2
    assert bulk_untag(system, CustomerFilters(q=live[0].name), tag_groups["whitening"].pk) == 5


def test_bulk_tagging_in_an_exclusive_group_replaces_the_sibling(system, register, tag_groups):
    c = register(source="live")
    add_tag(c.pk, tag_groups["dry"].pk, actor=system)
    bulk_tag(system, CustomerFilters(source="live"), tag_groups["oily"].pk)
    assert tags_of(c) == ["油皮"]


def test_a_clerk_bulk_tags_only_their_own_customers(register, clerk, make_staff, tag_groups):
    mine = [register(owner=clerk, source="store") for _ in range(3)]
    register(owner=make_staff("clerk"), source="store")
    assert bulk_tag(actor_of(clerk), CustomerFilters(), tag_groups["antiaging"].pk) == 3
    assert set(
        CustomerTag.objects.filter(tag=tag_groups["antiaging"]).values_list("customer", flat=True)
    ) == {c.pk for c in mine}


def _lifecycle():
    group = TagGroup.objects.create(name="生命周期", exclusive=True)
    rules = [
        ("潜客", {"field": "paid_orders", "op": "eq", "value": 0}),
        (
            "活跃",
            {
                "all": [
                    {"field": "paid_orders", "op": "gte", "value": 2},
                    {"field": "days_since_last_order", "op": "lte", "value": 90},
                ]
            },
        ),
        ("新客", {"field": "days_since_last_order", "op": "lte", "value": 90}),
        ("流失", {"field": "days_since_last_order", "op": "gt", "value": 180}),
    ]
    return {
        name: Tag.objects.create(group=group, name=name, rule=rule, sort=i)
        for i, (name, rule) in enumerate(rules)
    }


def test_rule_tags_follow_purchases_first_match_wins_in_an_exclusive_group(
    system, register, make_order
):
    tags = _lifecycle()
    prospect, loyal, newbie, gone = register(), register(), register(), register()
    make_order(loyal, days_ago=20)
    make_order(loyal, days_ago=50)
    make_order(newbie, days_ago=5)
    make_order(gone, days_ago=200)
    result = refresh_rule_tags()
    assert tags_of(prospect) == ["潜客"]
    assert tags_of(loyal) == ["活跃"]  # also matches 新客, but 活跃 comes first
    assert tags_of(newbie) == ["新客"]
    assert tags_of(gone) == ["流失"]
    assert result[tags["潜客"].pk] == (1, 0)
    # a second purchase moves the newcomer on; the old tag goes
    make_order(newbie, days_ago=1)
    refresh_rule_tags()
    assert tags_of(newbie) == ["活跃"]
    assert CustomerTag.objects.get(customer=newbie).by_rule


def test_a_manual_tag_keeps_rules_of_its_exclusive_group_off(system, register, make_order):
    tags = _lifecycle()
    manual = Tag.objects.create(group=tags["潜客"].group, name="VIP手动")
    c = register()
    add_tag(c.pk, manual.pk, actor=system)
    refresh_rule_tags()
    assert tags_of(c) == ["VIP手动"]


def test_rule_tags_cannot_be_set_by_hand(system, register):
    tags = _lifecycle()
    with pytest.raises(ValidationFailed) as err:
        add_tag(register().pk, tags["潜客"].pk, actor=system)
    assert "tag_id" in err.value.fields


def test_a_rule_on_net_paid_amount_counts_refunds(system, register, make_order):
    group = TagGroup.objects.create(name="价值")
    vip = Tag.objects.create(
        group=group, name="高价值", rule={"field": "paid_total_fen", "op": "gte", "value": 100000}
    )
    rich, refunded = register(), register()
    make_order(rich, paid_fen=120000)
    make_order(refunded, paid_fen=120000, refunded_fen=50000)
    refresh_rule_tags([vip.pk])
    assert tags_of(rich) == ["高价值"] and tags_of(refunded) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "nope", "op": "eq", "value": 1},
        {"field": "paid_orders", "op": "in", "value": [1]},
        {"field": "paid_orders", "op": "gte", "value": -1},
        {"field": "source", "op": "in", "value": ["mars"]},
        {"all": []},
        {"all": [{"field": "gender", "op": "eq", "value": "x"}]},
        "paid_orders > 2",
    ],
)
def test_a_malformed_rule_is_refused_naming_the_rule_field(rule):
    with pytest.raises(ValidationFailed) as err:
        validate_rule(rule)
    assert "rule" in err.value.fields


def test_a_rule_reads_as_words():
    from django.utils import translation

    with translation.override("en"):
        text = describe_rule(
            {
                "all": [
                    {"field": "paid_orders", "op": "gte", "value": 2},
                    {"field": "source", "op": "in", "value": ["tmall", "jd"]},
                ]
            }
        )
    assert "paid orders ≥ 2" in text and "tmall, jd" in text
