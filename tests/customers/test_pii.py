"""Personal data: encrypted at rest, masked per role, exported and erased on request, audited."""

import pytest
from django.db import connection

from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.customers.models import Customer, Identity
from siyu.customers.services import (
    ContactInput,
    add_tag,
    display_name,
    display_phone,
    erase_customer,
    export_personal_data,
    merge_customers,
    register_contact,
    set_consent,
)
from siyu.orders.models import Order
from tests.conftest import actor_of

pytestmark = pytest.mark.django_db


def test_phones_and_identities_are_not_stored_in_clear(register):
    register("王芳", "13912345678", identities={"unionid": "oUnion_secret"})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT phone, phone_hash FROM {Customer._meta.db_table}")
        phone, phone_hash = cursor.fetchone()
        cursor.execute(f"SELECT value FROM {Identity._meta.db_table}")
        values = [row[0] for row in cursor.fetchall()]
    assert "13912345678" not in phone and phone.startswith("v1:")
    assert "13912345678" not in phone_hash
    assert not any("13912345678" in v or "oUnion_secret" in v for v in values)
    assert Customer.objects.get().phone == "13912345678"  # the model decrypts


def test_roles_without_the_pii_right_see_masked_values(register, analyst, operator):
    c = register("王小芳", "13912345678")
    assert display_phone(actor_of(analyst), c, full=True) == "139****5678"
    assert display_name(actor_of(analyst), c) == "王**"
    assert display_phone(actor_of(operator), c, full=True) == "13912345678"
    assert display_phone(actor_of(operator), c) == "139****5678"  # lists mask for everyone


def test_export_gathers_everything_about_the_person_and_is_audited(
    system, register, make_order, operator, tag_groups
):
    c = register("王芳", "13912345678", identities={"tmall_buyer": "tb_wf"})
    other = register("王芳", "13912340000")
    merge_customers(c.pk, other.pk, actor=system)
    add_tag(c.pk, tag_groups["dry"].pk, actor=system)
    set_consent(c.pk, "sms", True, actor=system, source="H5")
    make_order(c, paid_fen=25800)
    data = export_personal_data(c.pk, actor=actor_of(operator))
    assert data["customer"]["phone"] == "13912345678"
    assert data["customer"]["merged_records"] == [other.pk]
    assert {(i["kind"], i["value"]) for i in data["identities"]} == {
        ("phone", "13912345678"),
        ("phone", "13912340000"),
        ("tmall_buyer", "tb_wf"),
    }
    assert data["orders"][0]["receiver_phone"] == "13912345678"
    assert data["orders"][0]["paid_fen"] == 25800
    assert data["tags"] == [{"group": "肤质", "tag": "干皮", "by_rule": False}]
    assert data["consents"][0]["channel"] == "sms"
    assert len(data["touches"]) == 2 and len(data["owners"]) == 0
    entry = AuditEntry.objects.get(action="customers.pii_exported")
    assert (entry.actor_label, entry.object_id) == ("operator", str(c.pk))


def test_analysts_and_clerks_cannot_export_personal_data(register, analyst, clerk):
    c = register(owner=clerk)
    for user in (analyst, clerk):
        with pytest.raises(PermissionDenied):
            export_personal_data(c.pk, actor=actor_of(user))
    assert not AuditEntry.objects.filter(action="customers.pii_exported").exists()


def test_erasure_anonymises_for_good_and_blanks_order_receivers(
    system, register, make_order, owner, tag_groups
):
    c = register("王芳", "13912345678", identities={"unionid": "oU1"}, city="上海")
    dup = register("王芳", "13912340000")
    merge_customers(c.pk, dup.pk, actor=system)
    add_tag(c.pk, tag_groups["dry"].pk, actor=system)
    set_consent(c.pk, "sms", True, actor=system, source="H5")
    order = make_order(c, paid_fen=25800)

    erase_customer(c.pk, actor=actor_of(owner), reason="顾客来电要求删除 工单#8812")

    for record in Customer.objects.filter(pk__in=[c.pk, dup.pk]):
        assert (record.name, record.phone, record.phone_hash, record.city) == ("", "", "", "")
        assert record.erased_at is not None and record.opted_out_at is not None
    assert Identity.objects.count() == 0
    order.refresh_from_db()
    assert (order.receiver_name, order.receiver_phone, order.receiver_address) == ("", "", "")
    assert (order.paid_fen, order.number) == (25800, order.number)
    entry = AuditEntry.objects.get(action="customers.erased")
    assert entry.data["records"] == [c.pk, dup.pk]
    assert "13912345678" not in str(entry.data) + entry.summary
    # the same phone later is a new person: nothing links it back to the erased record
    again = register_contact(ContactInput(phone="13912345678", source="store"), actor=system)
    assert again.created and again.customer.pk != c.pk
    with pytest.raises(Conflict):
        erase_customer(c.pk, actor=actor_of(owner), reason="again")


def test_only_the_owner_may_erase_and_a_reason_is_required(register, operator, owner):
    c = register()
    with pytest.raises(PermissionDenied):
        erase_customer(c.pk, actor=actor_of(operator), reason="请求")
    with pytest.raises(ValidationFailed) as err:
        erase_customer(c.pk, actor=actor_of(owner), reason=" ")
    assert "reason" in err.value.fields
    assert Order.objects.count() == 0 and Customer.objects.get().erased_at is None


def test_other_apps_add_their_sections_to_the_export(system, register, operator, monkeypatch):
    from siyu.customers import personal_data

    monkeypatch.setattr(personal_data, "_sections", {})

    @personal_data.export_section("addresses")
    def addresses(customer_ids):
        return [{"customer": cid, "address": "上海市静安区南京西路1号"} for cid in customer_ids]

    c, dup = register(), register()
    merge_customers(c.pk, dup.pk, actor=system)
    data = export_personal_data(c.pk, actor=actor_of(operator))
    assert [a["customer"] for a in data["addresses"]] == [c.pk, dup.pk]
