"""Console pages of the customer pool, driven through the Django test client."""

import csv
import io
import json

import pytest
from django.urls import reverse

from siyu.core.models import AuditEntry
from siyu.customers.models import Customer, CustomerTag, MergeSuggestion
from siyu.customers.services import ContactInput, register_contact

pytestmark = pytest.mark.django_db


def csv_rows(response):
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_list_searches_filters_and_pages(console_client, operator, register):
    for i in range(7):
        register(f"王{i}号", f"1390000000{i}", source="tmall" if i % 2 else "jd")
    client = console_client(operator)
    page = client.get(reverse("customers:list"), {"source": "tmall", "size": 2})
    assert page.status_code == 200
    names = [r["name"] for r in page.context["rows"]]
    assert names == ["王5号", "王3号"]  # newest first
    assert page.context["page"].count == 3
    nxt = client.get(
        reverse("customers:list"),
        {"source": "tmall", "size": 2, "after": page.context["page"].next_cursor},
    )
    assert [r["name"] for r in nxt.context["rows"]] == ["王1号"]
    found = client.get(reverse("customers:list"), {"q": "13900000004"})
    assert [r["name"] for r in found.context["rows"]] == ["王4号"]
    # lists mask phones for everyone, even roles allowed to see them on the detail page
    table = found.content.decode().split('data-testid="customer-table"')[1]
    assert "139****0004" in table and "13900000004" not in table


def test_bad_filters_are_reported_not_a_crash(console_client, operator):
    page = console_client(operator).get(reverse("customers:list"), {"since": "soon"})
    assert page.status_code == 200
    assert "since" in page.context["filter_errors"]


def test_bulk_tag_from_the_filtered_list(console_client, operator, register, tag_groups):
    for _ in range(3):
        register(source="live")
    register(source="tmall")
    client = console_client(operator)
    response = client.post(
        reverse("customers:bulk_tag") + "?source=live", {"tag": tag_groups["whitening"].pk}
    )
    assert response.status_code == 302 and "source=live" in response["Location"]
    assert CustomerTag.objects.filter(tag=tag_groups["whitening"]).count() == 3


def test_csv_export_gives_phones_only_to_roles_with_the_export_right(
    console_client, operator, analyst, store_manager, clerk, register
):
    register("王芳", "13912345678", owner=clerk)
    by_role = {}
    for user in (operator, store_manager, analyst):
        response = console_client(user).get(reverse("customers:export_csv"))
        assert response.status_code == 200
        by_role[user.role] = csv_rows(response)
    assert by_role["operator"][1][1:3] == ["王芳", "13912345678"]
    assert by_role["store_manager"][1][1] == "王芳"
    assert "5678" not in str(by_role["store_manager"])
    analyst_text = str(by_role["analyst"])
    assert "王芳" not in analyst_text and "5678" not in analyst_text
    assert by_role["analyst"][1][1] == "线下门店"  # the first source is the second column
    assert AuditEntry.objects.filter(action="customers.list_exported").count() == 3


def test_detail_masks_identities_for_analysts_and_renders_everything(
    console_client, operator, analyst, register, make_order
):
    c = register("王小芳", "13912345678", identities={"tmall_buyer": "tb_wangxf"})
    make_order(c, paid_fen=25800)
    full = console_client(operator).get(reverse("customers:detail", args=[c.pk]))
    text = full.content.decode()
    assert "13912345678" in text and "tb_wangxf" in text and "¥258.00" in text
    masked = console_client(analyst).get(reverse("customers:detail", args=[c.pk]))
    text = masked.content.decode()
    assert "13912345678" not in text and "tb_wangxf" not in text
    assert "139****5678" in text and "王**" in text


def test_other_apps_contribute_panels_to_the_customer_page(
    console_client, operator, register, monkeypatch
):
    from django.apps import apps

    c = register()
    config = apps.get_app_config("orders")
    monkeypatch.setattr(
        type(config),
        "customer_panels",
        lambda self, actor, customer: [
            {
                "title": "积分",
                "template": "customers/tests_panel.html",
                "context": {"points": 1280},
            }
        ],
    )
    from django.template import engines

    engine = engines["django"].engine
    from django.template.loaders.locmem import Loader

    monkeypatch.setattr(
        engine,
        "template_loaders",
        [
            Loader(
                engine, {"customers/tests_panel.html": "points={{ points }} of #{{ customer.pk }}"}
            )
        ]
        + list(engine.template_loaders),
    )
    page = console_client(operator).get(reverse("customers:detail", args=[c.pk]))
    assert f"points=1280 of #{c.pk}" in page.content.decode()


def test_tagging_on_the_detail_page_with_htmx(console_client, clerk, register, tag_groups):
    c = register(owner=clerk)
    client = console_client(clerk)
    response = client.post(
        reverse("customers:customer_tags", args=[c.pk]),
        {"tag": tag_groups["dry"].pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'aria-pressed="true"' in response.content.decode()
    assert CustomerTag.objects.filter(customer=c, tag=tag_groups["dry"]).exists()


def test_add_a_customer_and_meet_them_again(console_client, clerk):
    client = console_client(clerk)
    bad = client.post(
        reverse("customers:new"), {"name": "赵敏", "phone": "12345", "source": "store"}
    )
    assert bad.status_code == 200 and bad.context["form"].errors["phone"]
    ok = client.post(
        reverse("customers:new"),
        {
            "name": "赵敏",
            "phone": "13912345678",
            "source": "store",
            "consent_sms": "on",
            "consent_source": "门店登记表",
        },
    )
    c = Customer.objects.get()
    assert ok["Location"] == reverse("customers:detail", args=[c.pk])
    assert c.owner_user == clerk and c.consents.get().granted
    client.post(
        reverse("customers:new"), {"phone": "139 1234 5678", "source": "store", "city": "上海"}
    )
    assert Customer.objects.count() == 1 and Customer.objects.get().city == "上海"


def test_merge_page_previews_then_merges_a_suggestion(console_client, operator, system):
    a = register_contact(ContactInput(name="王芳", phone="13900000001"), actor=system).customer
    b = register_contact(ContactInput(identities={"unionid": "u1"}), actor=system).customer
    register_contact(ContactInput(phone="13900000001", identities={"unionid": "u1"}), actor=system)
    suggestion = MergeSuggestion.objects.get()
    client = console_client(operator)
    listing = client.get(reverse("customers:suggestions"))
    assert listing.context["rows"][0]["s"] == suggestion
    preview = client.get(
        reverse("customers:merge"), {"a": a.pk, "b": b.pk, "suggestion": suggestion.pk}
    )
    assert preview.status_code == 200 and preview.context["default_survivor"] == a.pk
    done = client.post(
        reverse("customers:merge"),
        {"a": a.pk, "b": b.pk, "survivor": a.pk, "reason": "同一人", "suggestion": suggestion.pk},
    )
    assert done["Location"] == reverse("customers:detail", args=[a.pk])
    b.refresh_from_db()
    suggestion.refresh_from_db()
    assert b.merged_into_id == a.pk and suggestion.status == "merged"
    tomb = client.get(reverse("customers:detail", args=[b.pk]))
    assert f"#{a.pk}" in tomb.content.decode() and tomb.context["record"].reason == "同一人"


def test_personal_data_download_and_erasure_with_confirmation(
    console_client, operator, owner, register
):
    c = register("王芳", "13912345678")
    data = console_client(operator).get(reverse("customers:export_json", args=[c.pk]))
    assert data["Content-Disposition"].startswith("attachment")
    assert json.loads(data.content)["customer"]["phone"] == "13912345678"
    client = console_client(owner)
    wrong = client.post(reverse("customers:erase", args=[c.pk]), {"confirm": "999", "reason": "x"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["confirm"]
    done = client.post(
        reverse("customers:erase", args=[c.pk]), {"confirm": str(c.pk), "reason": "工单#1"}
    )
    assert done.status_code == 302
    c.refresh_from_db()
    assert c.erased_at and c.phone == ""


def test_tag_groups_and_rule_tags_are_managed_on_the_tags_page(console_client, operator):
    client = console_client(operator)
    client.post(reverse("customers:tags"), {"g-name": "生命周期", "g-exclusive": "on", "g-sort": 1})
    from siyu.customers.models import Tag, TagGroup

    group = TagGroup.objects.get()
    assert group.exclusive
    bad = client.post(
        reverse("customers:tags"),
        {"t-group": group.pk, "t-name": "活跃", "t-rule": '{"field": "nope"}'},
    )
    assert bad.status_code == 200 and "rule" in bad.context["tag_form"].errors
    client.post(
        reverse("customers:tags"),
        {
            "t-group": group.pk,
            "t-name": "活跃",
            "t-rule": '{"field": "paid_orders", "op": "gte", "value": 2}',
        },
    )
    assert Tag.objects.get().rule["value"] == 2
    page = client.get(reverse("customers:tags"))
    assert "≥ 2" in page.content.decode()


def test_hand_over_page_moves_a_clerks_customers(
    console_client, store_manager, clerk, make_staff, register
):
    successor = make_staff("clerk")
    for _ in range(3):
        register(owner=clerk)
    response = console_client(store_manager).post(
        reverse("customers:handover"), {"from_user": clerk.pk, "to_user": successor.pk}
    )
    assert response.status_code == 302
    assert Customer.objects.filter(owner_user=successor).count() == 3


def test_home_shows_pool_cards(console_client, clerk, register):
    from django.core.cache import cache
    from django.utils import translation

    cache.clear()
    for _ in range(2):
        register(owner=clerk, source="store")
    register(source="tmall")
    page = console_client(clerk).get(reverse("core:home"), headers={"Accept-Language": "en"})
    with translation.override("en"):
        cards = {str(c["label"]): c["value"] for c in page.context["cards"]}
    assert cards["Customers"] == "2"  # the clerk's own
    assert cards["New this week"] == "2"
    assert cards["From Offline store"] == "2"
    assert "From Tmall / Taobao" not in cards
