"""The rule language: what it accepts, the paths it names when it refuses, how it compiles."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.utils import translation

from siyu.segments.rules import (
    FIELDS,
    Condition,
    Context,
    Group,
    InvalidRule,
    compile_rule,
    describe,
    json_schema,
    parse_rule,
)

CTX = Context(today=date(2026, 6, 30), tz="Asia/Shanghai")


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def errors_of(raw) -> dict[str, str]:
    with pytest.raises(InvalidRule) as exc:
        parse_rule(raw)
    return exc.value.fields


def test_a_nested_rule_parses_into_typed_nodes():
    node = parse_rule(
        {
            "op": "and",
            "children": [
                {"field": "city", "op": "in", "value": ["上海", " 杭州 ", "上海"]},
                {"field": "spent", "op": "gte", "value": 50000, "within_days": 365},
                {
                    "op": "not",
                    "children": [{"field": "contactable", "op": "in", "value": ["wecom"]}],
                },
            ],
        }
    )
    assert isinstance(node, Group) and node.op == "and"
    city, spent, negated = node.children
    assert city == Condition("city", "in", ("上海", "杭州"))  # trimmed, duplicates dropped
    assert spent.window.within_days == 365
    assert isinstance(negated, Group) and negated.op == "not"
    # the normal form round-trips
    assert parse_rule(node.as_json()) == node


def test_errors_name_the_path_of_the_bad_node():
    fields = errors_of(
        {
            "op": "and",
            "children": [
                {"field": "city", "op": "in", "value": ["上海"]},
                {"field": "rfm_group", "op": "in", "value": ["champions"]},
                {"field": "value_score", "op": "gte", "value": "high"},
                {"op": "or", "children": [{"field": "tag", "op": "any", "value": [3, -1]}]},
            ],
        }
    )
    assert set(fields) == {"rule.children[2].value", "rule.children[3].children[0].value[1]"}
    assert "number" in fields["rule.children[2].value"]


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"field": "shoe_size", "op": "eq", "value": 38}, "rule.field"),
        ({"field": "city", "op": "gte", "value": ["上海"]}, "rule.op"),
        ({"field": "city", "op": "in", "value": []}, "rule.value"),
        ({"field": "city", "op": "in"}, "rule.value"),
        ({"field": "rfm_group", "op": "in", "value": ["vip"]}, "rule.value[0]"),
        ({"field": "p_alive", "op": "lt", "value": 1.5}, "rule.value"),
        ({"field": "spent", "op": "gte", "value": 10.5}, "rule.value"),
        ({"field": "spent", "op": "between", "value": [500, 100]}, "rule.value"),
        ({"field": "spent", "op": "gte", "value": 1, "within_days": 0}, "rule.within_days"),
        (
            {"field": "spent", "op": "gte", "value": 1, "within_days": 9, "since": "2026-01-01"},
            "rule.within_days",
        ),
        ({"field": "orders", "op": "gte", "value": 1, "since": "2026-13-01"}, "rule.since"),
        ({"field": "city", "op": "in", "value": ["上海"], "within_days": 30}, "rule.within_days"),
        ({"field": "last_purchase", "op": "before", "value": "yesterday"}, "rule.value"),
        ({"field": "last_purchase", "op": "is_empty", "value": "2026-01-01"}, "rule.value"),
        ({"field": "in_pool", "op": "is", "value": "yes"}, "rule.value"),
        ({"op": "xor", "children": [{"field": "in_pool", "op": "is", "value": True}]}, "rule.op"),
        ({"op": "and", "children": []}, "rule.children"),
        ({"op": "and"}, "rule.children"),
        ("city = 上海", "rule"),
        ({"value": 1}, "rule"),
    ],
)
def test_each_kind_of_mistake_is_reported_where_it_is(raw, path):
    assert path in errors_of(raw)


def test_the_error_message_starts_with_the_first_bad_path():
    with pytest.raises(InvalidRule) as exc:
        parse_rule({"op": "and", "children": [{"field": "age", "op": "gte", "value": -1}]})
    assert "rule.children[0].value" in exc.value.message
    assert exc.value.code == "invalid_rule" and exc.value.status == 422


def test_rules_too_deep_or_too_big_are_refused():
    node = {"field": "in_pool", "op": "is", "value": True}
    for _ in range(7):
        node = {"op": "and", "children": [node]}
    assert any("deep" in m for m in errors_of(node).values())
    wide = {"op": "or", "children": [{"field": "in_pool", "op": "is", "value": True}] * 250}
    assert any("at most" in m for m in errors_of(wide).values())


def test_user_values_are_bound_never_spliced_into_the_sql():
    hostile = "上海'); DROP TABLE facts; --"
    compiled = compile_rule(parse_rule({"field": "city", "op": "in", "value": [hostile]}), CTX)
    assert hostile not in compiled.sql
    assert compiled.params == [hostile]
    compiled = compile_rule(
        parse_rule(
            {"field": "bought_product", "op": "in", "value": ["X' OR 1=1"], "within_days": 30}
        ),
        CTX,
    )
    assert "OR 1=1" not in compiled.sql
    assert "X' OR 1=1" in compiled.params


def test_windows_are_local_days_turned_into_utc_bounds():
    compiled = compile_rule(
        parse_rule(
            {
                "field": "orders",
                "op": "gte",
                "value": 2,
                "since": "2026-06-01",
                "until": "2026-06-30",
            }
        ),
        CTX,
    )
    # Shanghai is UTC+8: 1 June 00:00 local is 31 May 16:00 UTC; "until 30 June" ends 1 July 00:00
    assert datetime(2026, 5, 31, 16, 0) in compiled.params
    assert datetime(2026, 6, 30, 16, 0) in compiled.params
    last_30 = compile_rule(
        parse_rule({"field": "spent", "op": "gt", "value": 0, "within_days": 30}), CTX
    )
    assert date(2026, 6, 1) in last_30.params  # up to today: local days, 1 June .. 30 June


def test_every_field_in_the_catalogue_compiles():
    samples = {
        "choice": lambda s: [s.choices()[0][0]],
        "text": lambda s: ["上海"],
        "product": lambda s: ["SY-SER-30"],
        "ids": lambda s: [1],
        "tag": lambda s: [1, 2],
        "bool": lambda s: True,
        "number": lambda s: s.minimum if s.minimum is not None else 1,
        "money": lambda s: 100,
        "date": lambda s: "2026-01-01",
    }
    for name, spec in FIELDS.items():
        op = "before" if spec.kind == "date" else ("all" if spec.kind == "tag" else spec.ops[0])
        node = parse_rule({"field": name, "op": op, "value": samples[spec.kind](spec)})
        compiled = compile_rule(node, CTX)
        assert compiled.sql.count("?") == len(compiled.params), name


def test_a_rule_reads_as_a_sentence():
    node = parse_rule(
        {"op": "and", "children": [
            {"field": "rfm_group", "op": "in", "value": ["at_risk"]},
            {"field": "spent", "op": "gte", "value": 50000, "within_days": 365},
        ]}
    )  # fmt: skip
    text = describe(node)
    assert "RFM" in text and "At risk" in text and "¥500.00" in text and "365" in text


def test_the_json_schema_lists_every_field():
    schema = json_schema()
    conditions = schema["$defs"]["condition"]["oneOf"]
    assert {c["properties"]["field"]["const"] for c in conditions} == set(FIELDS)
