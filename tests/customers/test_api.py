"""The customers API: same rules as the console, one error shape, cursor pagination."""

import pytest

from siyu.core.models import AuditEntry
from siyu.customers.models import Customer, MergeSuggestion

pytestmark = pytest.mark.django_db

BASE = "/api/v1/customers/"


def test_list_pages_with_a_cursor_and_masks_phones(api_client, operator, register):
    made = [register(f"王{i}", f"1390000000{i}", source="jd") for i in range(5)]
    client = api_client(operator)
    first = client.get(BASE, {"size": 2, "source": "jd"}).json()
    assert [c["id"] for c in first["items"]] == [made[4].pk, made[3].pk]
    assert first["count"] == 5 and first["count_is_exact"]
    assert first["items"][0]["phone"] == "139****0004"
    second = client.get(BASE, {"size": 2, "source": "jd", "after": first["next_cursor"]}).json()
    assert [c["id"] for c in second["items"]] == [made[2].pk, made[1].pk]
    assert client.get(BASE, {"q": "0003"}).json()["items"][0]["id"] == made[3].pk


def test_bad_filters_answer_in_the_one_error_shape_with_field_names(api_client, operator):
    response = api_client(operator).get(BASE, {"source": "mars", "since": "2026-13-01"})
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert "since" in body["fields"]


def test_register_contact_creates_then_attaches(api_client, operator):
    client = api_client(operator)
    created = client.post(
        BASE,
        {"name": "周雨", "phone": "13912345678", "source": "mall", "consents": {"sms": True}},
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["created"] and body["customer"]["phone"] == "13912345678"
    assert body["customer"]["consents"][0]["granted"]
    again = client.post(
        BASE,
        {"phone": "139-1234-5678", "identities": {"unionid": "oU9"}, "source": "wecom"},
        content_type="application/json",
    )
    assert again.status_code == 200 and not again.json()["created"]
    assert {i["kind"] for i in again.json()["customer"]["identities"]} == {"phone", "unionid"}
    bad = client.post(BASE, {"phone": "138****5678"}, content_type="application/json")
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"] == {"phone": bad.json()["error"]["fields"]["phone"]}


def test_detail_is_masked_for_analysts(api_client, analyst, operator, register):
    c = register("王小芳", "13912345678", identities={"unionid": "oUnion-1"})
    seen = api_client(analyst).get(f"{BASE}{c.pk}").json()
    assert (seen["name"], seen["phone"]) == ("王**", "139****5678")
    assert "oUnion-1" not in str(seen)
    full = api_client(operator).get(f"{BASE}{c.pk}").json()
    assert full["phone"] == "13912345678"


def test_tags_consent_and_owner_through_the_api(
    api_client, store_manager, clerk, make_staff, register, tag_groups
):
    c = register(owner=clerk)
    colleague = make_staff("clerk")
    client = api_client(store_manager)
    assert client.post(
        f"{BASE}{c.pk}/tags", {"tag_id": tag_groups["dry"].pk}, content_type="application/json"
    ).json() == {"changed": True}
    assert client.delete(f"{BASE}{c.pk}/tags/{tag_groups['dry'].pk}").json() == {"changed": True}
    body = client.post(
        f"{BASE}{c.pk}/consents",
        {"channel": "wecom", "granted": True, "source": "企微"},
        content_type="application/json",
    ).json()
    assert body["consents"][0]["channel"] == "wecom" and body["in_pool"]
    out = client.post(
        f"{BASE}{c.pk}/consents",
        {"channel": "all", "granted": False, "source": "电话"},
        content_type="application/json",
    ).json()
    assert out["opted_out_at"] is not None and not out["in_pool"]
    owner = client.post(
        f"{BASE}{c.pk}/owner",
        {"owner_id": colleague.pk, "reason": "排班"},
        content_type="application/json",
    )
    assert owner.status_code == 200 and owner.json()["owner_id"] == colleague.pk


def test_merge_and_suggestions_through_the_api(api_client, operator, system):
    from siyu.customers.services import ContactInput, register_contact

    a = register_contact(ContactInput(phone="13900000001"), actor=system).customer
    b = register_contact(ContactInput(identities={"unionid": "u1"}), actor=system).customer
    register_contact(ContactInput(phone="13900000001", identities={"unionid": "u1"}), actor=system)
    client = api_client(operator)
    open_ = client.get(f"{BASE}merge-suggestions").json()
    assert [(s["customer_a"], s["customer_b"]) for s in open_] == [(a.pk, b.pk)]
    merged = client.post(
        f"{BASE}merge",
        {"survivor_id": a.pk, "merged_id": b.pk, "suggestion_id": open_[0]["id"]},
        content_type="application/json",
    )
    assert merged.status_code == 200 and merged.json()["merged_by"] == "operator"
    assert Customer.objects.get(pk=b.pk).merged_into_id == a.pk
    assert MergeSuggestion.objects.get().status == "merged"
    again = client.post(
        f"{BASE}merge", {"survivor_id": a.pk, "merged_id": b.pk}, content_type="application/json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "customer_merged"


def test_pii_export_through_the_api_is_audited(api_client, operator, register):
    c = register("王芳", "13912345678")
    data = api_client(operator).get(f"{BASE}{c.pk}/export").json()
    assert data["customer"]["phone"] == "13912345678"
    assert AuditEntry.objects.filter(action="customers.pii_exported", object_id=str(c.pk)).exists()


def test_bulk_tag_through_the_api(api_client, operator, register, tag_groups):
    for _ in range(3):
        register(source="kol")
    body = api_client(operator).post(
        f"{BASE}bulk-tag",
        {"tag_id": tag_groups["antiaging"].pk, "filters": {"source": "kol"}},
        content_type="application/json",
    )
    assert body.json() == {"count": 3}
