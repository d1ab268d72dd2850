"""The documented examples are the demo's segments and the bench's rules; the demo saves them."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from siyu.segments.examples import EXAMPLES
from siyu.segments.rules import FIELDS, parse_rule

DOC = Path(__file__).resolve().parents[2] / "docs" / "segments.md"


def documented() -> dict[str, dict]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"^### `(\w+)`.*?\n```json\n(.*?)\n```", text, re.M | re.S)
    return {key: json.loads(body) for key, body in found}


def test_the_documented_examples_are_the_demo_segments_and_they_are_valid():
    examples = {e["key"]: e["rule"] for e in EXAMPLES}
    assert documented() == examples
    for rule in examples.values():
        parse_rule(rule)


def test_every_field_of_the_language_is_documented():
    text = DOC.read_text(encoding="utf-8")
    assert [f for f in FIELDS if f"`{f}`" not in text] == []


@pytest.mark.usefixtures("snapshot_of")
def test_the_demo_saves_the_examples_and_a_store_segment(world, operator, store_manager):
    from siyu.core.demodata import DemoContext
    from siyu.segments import demo, services
    from siyu.segments.models import Segment

    ctx = DemoContext(out=io.StringIO())
    demo.build(ctx)
    names = set(Segment.objects.values_list("name", flat=True))
    assert {e["name"] for e in EXAMPLES} <= names
    store_segment = Segment.objects.get(store__isnull=False)
    assert store_segment.store_id == store_manager.store_id
    from siyu.core.access import Actor

    for segment in Segment.objects.all():
        services.count(Actor.system("test"), segment.rule)
    demo.build(ctx)  # a second run changes nothing
    assert Segment.objects.count() == len(names)
