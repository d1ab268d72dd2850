"""/api/v1/segments/ and the console pages: the same services behind both."""

from __future__ import annotations

import json

import pytest

from siyu.segments.models import Segment, SegmentSnapshot

pytestmark = pytest.mark.usefixtures("snapshot_of")

RULE = {"op": "and", "children": [{"field": "city", "op": "in", "value": ["上海", "杭州"]},
                                  {"field": "orders", "op": "gte", "value": 1}]}  # fmt: skip


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_api_saves_counts_previews_and_freezes_a_segment(world, operator, api_client):
    client = api_client(operator)
    fields = client.get("/api/v1/segments/fields").json()
    assert {f["field"] for f in fields["fields"]} >= {"city", "rfm_group", "bought_product"}
    assert fields["rule_schema"]["title"] == "siyu segment rule"
    created = post(client, "/api/v1/segments/", {"name": "上海杭州买过", "rule": RULE})
    assert created.status_code == 201, created.content
    sid = created.json()["id"]
    assert created.json()["editable"] is True
    count = client.get(f"/api/v1/segments/{sid}/count").json()
    assert (count["count"], count["in_scope"]) == (4, 6)
    assert count["data_as_of"]
    page = client.get(f"/api/v1/segments/{sid}/members?limit=3").json()
    assert len(page["members"]) == 3 and page["next_after"]
    rest = client.get(f"/api/v1/segments/{sid}/members?limit=3&after={page['next_after']}").json()
    assert len(rest["members"]) == 1 and rest["next_after"] is None
    frozen = post(client, f"/api/v1/segments/{sid}/materialise", {"channel": "sms"})
    assert frozen.status_code == 201 and frozen.json()["members"] == 2  # amy and bob
    assert [s["id"] for s in client.get(f"/api/v1/segments/{sid}/snapshots").json()] == [
        frozen.json()["id"]
    ]
    export = client.get(f"/api/v1/segments/{sid}/export?format=csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert len(b"".join(export.streaming_content).decode().strip().splitlines()) == 5
    xlsx = client.get(f"/api/v1/segments/snapshots/{frozen.json()['id']}/export?format=xlsx")
    assert xlsx.status_code == 200 and b"".join(xlsx.streaming_content)[:2] == b"PK"
    patched = client.patch(
        f"/api/v1/segments/{sid}", json.dumps({"name": "改名"}), content_type="application/json"
    )
    assert patched.json()["name"] == "改名"
    assert client.delete(f"/api/v1/segments/{sid}").status_code == 204
    assert Segment.objects.get(pk=sid).archived_at is not None


def test_an_invalid_rule_is_refused_with_the_path_of_the_bad_node(world, operator, api_client):
    client = api_client(operator)
    bad = {"op": "and", "children": [{"field": "city", "op": "in", "value": ["上海"]},
                                     {"field": "spent", "op": "gte", "value": 1, "within_days": 0},
                                     {"field": "rfm_group", "op": "in", "value": ["vip"]}]}  # fmt: skip
    response = post(client, "/api/v1/segments/count", {"rule": bad})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_rule"
    assert set(error["fields"]) == {"rule.children[1].within_days", "rule.children[2].value[0]"}
    created = post(client, "/api/v1/segments/", {"name": "", "rule": bad})
    assert created.status_code == 422
    assert {"name", "rule.children[2].value[0]"} <= set(created.json()["error"]["fields"])


def test_api_counts_and_previews_follow_the_callers_scope(
    world, store_manager, analyst, api_client
):
    rule = {"rule": {"field": "orders", "op": "gte", "value": 1}}
    assert post(api_client(store_manager), "/api/v1/segments/count", rule).json()["count"] == 3
    assert post(api_client(world.clerk), "/api/v1/segments/count", rule).json()["count"] == 1
    preview = post(api_client(analyst), "/api/v1/segments/preview", rule | {"limit": 10}).json()
    assert len(preview["members"]) == 4
    assert all("*" in m["name"] or m["name"].startswith("#") for m in preview["members"])
    # clerks may count but not save, export or freeze
    assert (
        post(api_client(world.clerk), "/api/v1/segments/", {"name": "x", **rule}).status_code == 403
    )


def test_the_console_lists_shows_and_freezes_segments(world, operator, console_client):
    client = console_client(operator)
    created = client.post(
        "/console/segments/new/",
        {
            "name": "上海的会员",
            "n.kind": "group",
            "n.op": "and",
            "n.0.kind": "condition",
            "n.0.field": "city",
            "n.0.op": "in",
            "n.0.value": "上海",
        },
    )
    segment = Segment.objects.get(name="上海的会员")
    assert created.status_code == 302 and created["Location"].endswith(f"/{segment.pk}/")
    assert segment.rule == {
        "op": "and",
        "children": [{"field": "city", "op": "in", "value": ["上海"]}],
    }
    listing = client.get("/console/segments/")
    assert "上海的会员".encode() in listing.content
    assert (
        client.get(f"/console/segments/{segment.pk}/count/").content.strip().endswith(b"2</span>")
    )
    detail = client.get(f"/console/segments/{segment.pk}/")
    assert detail.status_code == 200 and b'data-count="2"' in detail.content
    assert detail.content.count(b'data-testid="member"') == 2
    client.post(f"/console/segments/{segment.pk}/materialise/", {"channel": "wecom"})
    assert SegmentSnapshot.objects.get(segment=segment).members == 1
    export = client.get(f"/console/segments/{segment.pk}/export/?format=xlsx")
    assert export.status_code == 200


def test_the_builder_adds_and_removes_conditions_and_counts_as_you_edit(
    world, operator, console_client
):
    client = console_client(operator)
    form = {"n.kind": "group", "n.op": "or", "n.0.kind": "condition", "n.0.field": "city",
            "n.0.op": "in", "n.0.value": "上海、杭州"}  # fmt: skip
    count = client.post("/console/segments/builder/count/", form)
    assert b'data-count="4"' in count.content
    assert b"&quot;value&quot;: [" in count.content  # the JSON view travels with the count
    added = client.post("/console/segments/builder/", form | {"action": "add_group:n"})
    assert added.content.count(b'data-testid="condition"') == 2
    assert b'name="n.1.kind" value="group"' in added.content
    removed = client.post("/console/segments/builder/", form | {"action": "remove:n.0"})
    assert removed.content.count(b'data-testid="condition"') == 0
    assert b'data-testid="add-condition"' in removed.content
    # switching a condition's field starts it afresh with that field's first operator
    switched = client.post(
        "/console/segments/builder/", form | {"n.0.field": "spent", "action": "refresh"}
    )
    assert b'name="n.0.op"' in switched.content and b'value="gte" selected' in switched.content
    half = form | {"n.0.field": "spent", "n.0.op": "gte", "n.0.value": "abc"}
    invalid = client.post("/console/segments/builder/count/", half)
    assert b'data-testid="count-invalid"' in invalid.content
    money = client.post(
        "/console/segments/builder/count/",
        half | {"n.0.value": "500", "n.0.window": "days", "n.0.within_days": "365"},
    )
    assert b'data-count="2"' in money.content  # amy (1,200 yuan) and dan (1,000 yuan)


def test_who_may_open_which_segment_page(world, operator, analyst, store_manager, console_client):
    from siyu.core.access import Actor
    from siyu.segments import services

    segment = services.create_segment(Actor.for_user(operator), name="品牌", rule=RULE)
    for user, edit, export in (
        (analyst, 403, 200),
        (store_manager, 403, 200),
        (world.clerk, 403, 403),
        (operator, 200, 200),
    ):
        client = console_client(user)
        assert client.get("/console/segments/").status_code == 200
        assert client.get(f"/console/segments/{segment.pk}/").status_code == 200
        assert client.get(f"/console/segments/{segment.pk}/edit/").status_code == edit, user
        assert client.get(f"/console/segments/{segment.pk}/export/").status_code == export, user
        client.logout()
