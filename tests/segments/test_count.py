"""Counting: each kind of condition over a small brand, merged and erased records, NOT and
empty fields, and the snapshot's freshness."""

from __future__ import annotations

import pytest

from siyu.segments import index, services
from siyu.segments.rules import Context, parse_rule

from .conftest import set_scores

pytestmark = pytest.mark.usefixtures("snapshot_of")


def members(world, actor, rule) -> set[str]:
    """Members as a request gets them, checked against the same rule evaluated without the
    index's precomputed windows and per-customer masks' shortcuts where they apply."""
    table, _meta = services.member_ids(actor, rule)
    got = world.keys(table.column("customer_id").to_pylist())
    plain, _meta = services.member_ids(actor, rule, ctx=Context.now())
    assert world.keys(plain.column("customer_id").to_pylist()) == got, rule
    return got


ACTIVE = {"amy", "bob", "cat", "dan", "eve", "fay"}


def DAY(days_ago: int):  # a date, like a constant in the table below
    from datetime import timedelta

    from django.utils import timezone

    return timezone.localdate() - timedelta(days=days_ago)


def test_merged_and_erased_records_are_never_members(world, everyone):
    assert (
        members(world, everyone, {"field": "in_pool", "op": "is", "value": False})
        | members(world, everyone, {"field": "in_pool", "op": "is", "value": True})
        == ACTIVE
    )
    result = services.count(everyone, {"field": "city", "op": "in", "value": ["上海"]})
    assert result.count == 2 and result.in_scope == 6  # amy and bob; not ghost, not erased


CASES = [
    ({"field": "city", "op": "in", "value": ["上海", "杭州"]}, {"amy", "bob", "cat", "dan"}),
    # "none of" includes customers whose city is unknown
    ({"field": "city", "op": "not_in", "value": ["上海"]}, {"cat", "dan", "eve", "fay"}),
    ({"field": "gender", "op": "in", "value": ["unknown"]}, {"dan", "eve", "fay"}),
    ({"field": "age", "op": "between", "value": [25, 35]}, {"amy"}),
    ({"field": "age", "op": "gte", "value": 40}, {"cat"}),
    ({"field": "birthday_month", "op": "in", "value": [12]}, {"cat"}),
    ({"field": "first_seen", "op": "within_last_days", "value": 7}, ACTIVE),
    ({"field": "source", "op": "in", "value": ["tmall", "jd"]}, {"amy", "cat", "dan"}),
    ({"field": "referred", "op": "is", "value": True}, {"eve"}),
    ({"field": "owner_kind", "op": "in", "value": ["none"]}, {"bob", "cat", "eve", "fay"}),
    ({"field": "in_pool", "op": "is", "value": True}, {"amy", "bob", "dan", "fay"}),
    ({"field": "opted_out", "op": "is", "value": True}, {"cat"}),
    # contactable: consent granted there and not opted out (cat opted out everywhere)
    ({"field": "contactable", "op": "in", "value": ["wecom"]}, {"amy", "dan", "fay"}),
    ({"field": "contactable", "op": "in", "value": ["sms"]}, {"amy", "bob"}),
    ({"field": "contactable", "op": "not_in", "value": ["sms", "wecom"]}, {"cat", "eve"}),
    # behaviour: refunded and unpaid orders are not purchases; ghost's order counts for amy
    ({"field": "orders", "op": "gte", "value": 3}, {"amy"}),
    ({"field": "orders", "op": "eq", "value": 0}, {"eve", "fay"}),
    ({"field": "spent", "op": "gte", "value": 100000}, {"amy", "dan"}),
    ({"field": "spent", "op": "lt", "value": 10000, "within_days": 365}, {"bob", "eve", "fay"}),
    ({"field": "orders", "op": "gte", "value": 1, "within_days": 60}, {"amy", "bob"}),
    ({"field": "last_purchase", "op": "more_than_days_ago", "value": 150}, {"cat", "dan"}),
    ({"field": "last_purchase", "op": "is_empty"}, {"eve", "fay"}),
    ({"field": "first_purchase", "op": "within_last_days", "value": 365}, {"bob", "cat", "dan"}),
    ({"field": "bought_product", "op": "in", "value": ["SY-SER-30"]}, {"amy"}),
    ({"field": "bought_product", "op": "in", "value": ["SY-LIP-01"], "within_days": 60}, {"amy"}),
    ({"field": "bought_product", "op": "in", "value": ["SY-SER-30"], "within_days": 30}, {"amy"}),
    ({"field": "bought_product", "op": "in", "value": ["SY-CRM-50"], "within_days": 30}, set()),
    (
        {"field": "bought_product", "op": "not_in", "value": ["SY-MSK-5"]},
        {"cat", "dan", "eve", "fay"},
    ),
    ({"field": "bought_channel", "op": "in", "value": ["platform"]}, {"amy", "cat", "dan"}),
    ({"field": "bought_platform", "op": "in", "value": ["tmall"]}, {"amy", "cat"}),
    ({"field": "bought_platform", "op": "in", "value": ["tmall"], "within_days": 300}, {"cat"}),
    ({"field": "bought_platform", "op": "not_in", "value": ["tmall", "jd"]}, {"bob", "eve", "fay"}),
    ({"field": "bought_channel", "op": "in", "value": ["mall"], "within_days": 30}, {"amy", "bob"}),
    ({"field": "spent", "op": "gte", "value": 60000, "within_days": 90}, {"amy"}),
    ({"field": "orders", "op": "gte", "value": 2, "within_days": 365}, {"amy", "dan"}),
    ({"field": "orders", "op": "gte", "value": 1, "within_days": 100}, {"amy", "bob"}),
    # a window with an end date is evaluated on the purchases themselves
    (
        {
            "field": "bought_platform",
            "op": "in",
            "value": ["tmall", "jd"],
            "since": str(DAY(500)),
            "until": str(DAY(250)),
        },
        {"amy", "dan"},
    ),
    (
        {
            "field": "orders",
            "op": "gte",
            "value": 2,
            "since": str(DAY(350)),
            "until": str(DAY(200)),
        },
        {"dan"},
    ),
    ({"field": "spent", "op": "gt", "value": 30000, "since": str(DAY(120))}, {"amy"}),
    ({"field": "orders", "op": "eq", "value": 1, "since": str(DAY(120))}, {"bob"}),
]


def test_conditions_select_the_right_customers(world, everyone):
    wrong = {}
    for rule, expected in CASES:
        got = members(world, everyone, rule)
        if got != expected:
            wrong[str(rule)] = (sorted(got), sorted(expected))
    assert wrong == {}


def test_tags_any_all_none(world, everyone, tag_group):
    whiten, age = tag_group["美白"].pk, tag_group["抗老"].pk
    assert members(world, everyone, {"field": "tag", "op": "any", "value": [whiten, age]}) == {
        "amy",
        "dan",
    }
    assert members(world, everyone, {"field": "tag", "op": "all", "value": [whiten, age]}) == {
        "amy"
    }
    assert members(world, everyone, {"field": "tag", "op": "none", "value": [whiten]}) == ACTIVE - {
        "amy",
        "dan",
    }


def test_not_and_or_combine_without_losing_customers_with_empty_fields(world, everyone):
    # eve has no gender and no purchases: NOT (gender = f) must still include her
    not_f = {"op": "not", "children": [{"field": "gender", "op": "in", "value": ["f"]}]}
    assert members(world, everyone, not_f) == {"bob", "dan", "eve", "fay"}
    rule = {
        "op": "or",
        "children": [
            {"field": "bought_platform", "op": "in", "value": ["jd"]},
            {"op": "and", "children": [
                {"field": "city", "op": "in", "value": ["上海"]},
                {"op": "not", "children": [{"field": "contactable", "op": "in", "value": ["wecom"]}]},
            ]},
        ],
    }  # fmt: skip
    assert members(world, everyone, rule) == {"dan", "bob"}


def test_score_conditions_read_the_latest_scoring_run(world, everyone):
    set_scores(world.ids("amy", "dan"), rfm_group="at_risk", value_score=85, p_alive=0.3,
               clv_365d_fen=120000)  # fmt: skip
    set_scores(
        world.ids("bob"), rfm_group="champions", value_score=40, p_alive=0.9, clv_365d_fen=30000
    )
    set_scores(world.ids("bob"), replenishment_due=True)
    high_value_at_risk = {
        "op": "and",
        "children": [
            {"field": "value_score", "op": "gte", "value": 70},
            {"field": "p_alive", "op": "lt", "value": 0.5},
        ],
    }
    assert members(world, everyone, high_value_at_risk) == {"amy", "dan"}
    assert members(world, everyone, {"field": "rfm_group", "op": "in", "value": ["champions"]}) == {
        "bob"
    }
    assert members(
        world, everyone, {"field": "clv_365d", "op": "between", "value": [100000, 200000]}
    ) == {"amy", "dan"}
    assert members(world, everyone, {"field": "replenishment_due", "op": "is", "value": True}) == {
        "bob"
    }
    # customers without scores are "not due", never unknown
    assert "eve" in members(
        world, everyone, {"field": "replenishment_due", "op": "is", "value": False}
    )


def test_counts_follow_the_snapshot_and_say_how_old_it_is(world, everyone, snapshot_of):
    rule = {"field": "city", "op": "in", "value": ["北京"]}
    first = services.count(everyone, rule)
    assert first.count == 1 and first.data_as_of is not None
    world.customer("gus", city="北京")
    assert services.count(everyone, rule).count == 1  # not in the snapshot yet
    snapshot_of()
    assert services.count(everyone, rule).count == 2  # the small index is rebuilt inline
    assert index.info()["stale"] is False


def test_a_large_stale_index_is_read_while_a_rebuild_is_queued(
    world, everyone, snapshot_of, settings
):
    from django_tasks_db.models import DBTaskResult

    rule = {"field": "city", "op": "in", "value": ["北京"]}
    assert services.count(everyone, rule).count == 1
    settings.SIYU_SEGMENTS_INLINE_REBUILD_CUSTOMERS = 1
    world.customer("gus", city="北京")
    snapshot_of()
    assert services.count(everyone, rule).count == 1  # stale, but answered at once
    assert index.info()["stale"] is True
    assert DBTaskResult.objects.filter(task_path__endswith="rebuild_index").exists()
    index.build()
    assert services.count(everyone, rule).count == 2


def test_counting_without_a_snapshot_explains_what_to_do(db, everyone, settings, tmp_path):
    settings.SIYU_ANALYTICS_DIR = str(tmp_path / "empty")
    with pytest.raises(services.NoData):
        services.count(everyone, parse_rule({"field": "in_pool", "op": "is", "value": True}))
