"""`siyu segment count|export|index` from the command line."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from siyu.core.models import AuditEntry

pytestmark = pytest.mark.usefixtures("snapshot_of")


def run(*args) -> str:
    out = StringIO()
    call_command("segment", *args, stdout=out)
    return out.getvalue().strip()


def test_count_prints_the_number_of_matching_customers(world, tmp_path, store_manager):
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"rule": {"field": "orders", "op": "gte", "value": 1}}))
    assert run("count", "--rule-file", str(rule)) == "4"
    assert run("count", "--rule-file", str(rule), "--as", "manager") == "3"
    details = json.loads(run("count", "--rule-file", str(rule), "--json"))
    assert details["count"] == 4 and details["in_scope"] == 6 and details["data_as_of"]


def test_bad_rules_and_files_fail_with_the_path_of_the_problem(world, tmp_path):
    rule = tmp_path / "rule.json"
    rule.write_text(
        json.dumps({"op": "and", "children": [{"field": "city", "op": "in", "value": []}]})
    )
    with pytest.raises(CommandError, match=r"rule\.children\[0\]\.value"):
        run("count", "--rule-file", str(rule))
    with pytest.raises(CommandError, match="no such file"):
        run("count", "--rule-file", str(tmp_path / "missing.json"))
    with pytest.raises(CommandError, match="no active staff member"):
        run("count", "--rule-file", str(rule), "--as", "nobody")


def test_export_writes_csv_or_xlsx_without_personal_data_unless_asked(world, tmp_path, operator):
    from siyu.core.access import Actor
    from siyu.segments import services

    segment = services.create_segment(
        Actor.for_user(operator), name="杭州", rule={"field": "city", "op": "in", "value": ["杭州"]}
    )
    out = tmp_path / "hz.csv"
    run("export", "--segment", str(segment.pk), "--out", str(out))
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert {int(r[0]) for r in rows[1:]} == world.ids("cat", "dan")
    assert not any("手机" in h or "phone" in h.lower() for h in rows[0])
    pii = tmp_path / "hz.xlsx"
    run("export", "--segment", str(segment.pk), "--out", str(pii), "--pii", "--as", "operator")
    assert pii.read_bytes()[:2] == b"PK"
    assert AuditEntry.objects.filter(action="segments.exported").count() == 2
    assert AuditEntry.objects.filter(action="segments.exported", data__phones=True).count() == 1


def test_index_rebuilds_on_demand(world):
    assert "built" in run("index", "--force")
    assert "already matches" in run("index")
