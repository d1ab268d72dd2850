"""Row scope in SQL, freezing members for a campaign, and exports that respect PII rights."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from openpyxl import load_workbook

from siyu.core.access import Actor, Role
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditEntry
from siyu.segments import services
from siyu.segments.models import SegmentMember

pytestmark = pytest.mark.usefixtures("snapshot_of")

EVERY = {"op": "or", "children": [{"field": "in_pool", "op": "is", "value": True},
                                  {"field": "in_pool", "op": "is", "value": False}]}  # fmt: skip


def keys(world, actor, rule=EVERY) -> set[str]:
    table, _meta = services.member_ids(actor, rule)
    return world.keys(table.column("customer_id").to_pylist())


def test_each_role_counts_only_the_customers_it_may_see(world, make_staff, store_manager, analyst):
    everyone = keys(world, Actor.system())
    assert everyone == {"amy", "bob", "cat", "dan", "eve", "fay"}
    assert keys(world, Actor.for_user(analyst)) == everyone
    assert keys(world, Actor.for_user(store_manager)) == {"amy", "bob", "cat"}
    assert keys(world, Actor.for_user(world.clerk)) == {"amy"}
    assert keys(world, Actor.for_user(world.far_clerk)) == {"dan"}
    result = services.count(
        Actor.for_user(store_manager), {"field": "city", "op": "in", "value": ["杭州"]}
    )
    assert (result.count, result.in_scope) == (1, 3)  # cat; dan is another store's


def test_the_scope_translation_refuses_lookups_it_does_not_know():
    assert services._q_sql(Q()) == ("TRUE", [])
    assert services._q_sql(Q(pk__in=[])) == ("((FALSE))", [])
    assert services._q_sql(Q(store_id=3) | Q(owner_user_id=4)) == (
        "((f.store_id = ?) OR (f.owner_user_id = ?))",
        [3, 4],
    )
    with pytest.raises(ImproperlyConfigured):
        services._q_sql(Q(city__startswith="上"))


@pytest.fixture
def saved(world, operator):
    return services.create_segment(
        Actor.for_user(operator),
        name="上海和杭州",
        rule={"field": "city", "op": "in", "value": ["上海", "杭州"]},
    )


def test_materialising_freezes_members_checked_against_the_live_records(world, operator, saved):
    from django.utils import timezone

    actor = Actor.for_user(operator)
    # after the snapshot: bob opts out and dan is merged into amy
    bob, dan = world.c["bob"], world.c["dan"]
    bob.opted_out_at = timezone.now()
    bob.save()
    dan.merged_into = world.c["amy"]
    dan.save()
    snap = services.materialise(actor, saved.pk)
    members = dict(
        SegmentMember.objects.filter(snapshot=snap).values_list("customer_id", "opted_out")
    )
    assert world.keys(members) == {"amy", "bob", "cat"}
    assert {world.keys([k]).pop(): v for k, v in members.items()} == {
        "amy": False,
        "bob": True,
        "cat": True,
    }
    assert (snap.members, snap.opted_out, snap.excluded) == (3, 2, 1)
    assert snap.scope and snap.data_as_of is not None
    assert AuditEntry.objects.filter(
        action="segments.materialised", object_id=str(snap.pk)
    ).exists()


def test_materialising_for_a_channel_keeps_only_who_may_be_contacted_there(world, operator, saved):
    snap = services.materialise(Actor.for_user(operator), saved.pk, channel="wecom")
    members = SegmentMember.objects.filter(snapshot=snap).values_list("customer_id", flat=True)
    assert world.keys(members) == {"amy", "dan"}  # cat opted out; bob has no WeCom consent
    assert snap.opted_out == 0 and snap.excluded == 2


def test_a_store_manager_freezes_only_their_store(world, store_manager, saved):
    snap = services.materialise(Actor.for_user(store_manager), saved.pk)
    members = SegmentMember.objects.filter(snapshot=snap).values_list("customer_id", flat=True)
    assert world.keys(members) == {"amy", "bob", "cat"}


def test_clerks_and_analysts_may_not_materialise(world, analyst, saved):
    for user in (world.clerk, analyst):
        with pytest.raises(PermissionDenied):
            services.materialise(Actor.for_user(user), saved.pk)


def test_materialised_events_reach_subscribers_after_commit(
    world, operator, saved, django_capture_on_commit_callbacks
):
    from siyu.core import events
    from siyu.segments.events import SegmentMaterialised

    seen = []
    events.subscribe(SegmentMaterialised)(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            snap = services.materialise(Actor.for_user(operator), saved.pk, channel="sms")
    finally:
        events._after_commit[SegmentMaterialised].remove(seen.append)
    assert seen == [SegmentMaterialised(snap.pk, saved.pk, snap.members, "sms")]


def read_csv(plan) -> list[list[str]]:
    text = "".join(services.csv_chunks(plan))
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_exports_carry_the_personal_data_each_role_may_take(
    world, operator, store_manager, analyst, saved
):
    from siyu.customers.models import Customer

    Customer.objects.filter(pk=world.c["amy"].pk).update(name="艾米")
    amy = Customer.objects.get(pk=world.c["amy"].pk)
    amy.phone = "13812345678"
    amy.save()
    rows = read_csv(services.plan_export(Actor.for_user(operator), rule=saved.rule))
    header, body = rows[0], rows[1:]
    assert len(body) == 4
    assert "Mobile phone" in header[2] or "手机" in header[2]
    amy_row = next(r for r in body if r[0] == str(amy.pk))
    assert "艾米" in amy_row and "13812345678" in amy_row  # operators hold customers.export
    manager_rows = read_csv(services.plan_export(Actor.for_user(store_manager), rule=saved.rule))
    amy_row = next(r for r in manager_rows[1:] if r[0] == str(amy.pk))
    assert "艾米" in amy_row and "138****5678" in amy_row and "13812345678" not in amy_row
    assert len(manager_rows) == 1 + 3  # their store only
    analyst_rows = read_csv(services.plan_export(Actor.for_user(analyst), rule=saved.rule))
    flat = "".join(",".join(r) for r in analyst_rows)
    assert "艾米" not in flat and "5678" not in flat  # analysts never get names or phones
    assert len(analyst_rows[0]) == len(header) - 2
    audit = AuditEntry.objects.filter(action="segments.exported").order_by("pk")
    assert [e.data["phones"] for e in audit] == [True, False, False]
    with pytest.raises(PermissionDenied):
        services.plan_export(Actor.for_user(world.clerk), rule=saved.rule)


def test_exports_flag_opted_out_customers_and_write_excel(world, operator, saved, tmp_path):
    plan = services.plan_export(Actor.for_user(operator), rule=saved.rule, personal_data=False)
    path = tmp_path / "members.xlsx"
    with open(path, "wb") as out:
        services.write_export(plan, out, "xlsx")
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    opted = header.index(next(h for h in header if h in ("Opted out", "已退订")))
    cat = next(r for r in rows[1:] if r[0] == world.c["cat"].pk)
    assert cat[opted] in ("yes", "是")
    assert len(rows) == 5


def test_a_snapshot_exports_the_frozen_members(world, operator, saved):
    actor = Actor.for_user(operator)
    snap = services.materialise(actor, saved.pk, channel="wecom")
    rows = read_csv(services.plan_export(actor, snapshot_id=snap.pk, personal_data=False))
    assert {int(r[0]) for r in rows[1:]} == world.ids("amy", "dan")


def test_saved_segments_belong_to_a_store_or_the_brand(
    world, operator, store_manager, analyst, make_staff, other_store
):
    manager = Actor.for_user(store_manager)
    mine = services.create_segment(manager, name="本店沉睡", rule=EVERY)
    assert mine.store_id == world.store.pk
    brand = services.create_segment(Actor.for_user(operator), name="全品牌", rule=EVERY)
    assert brand.store_id is None
    far_manager = Actor.for_user(
        make_staff(Role.STORE_MANAGER, username="far_mgr", store=other_store)
    )
    assert set(services.segments_visible_to(far_manager)) == {brand}
    assert set(services.segments_visible_to(Actor.for_user(analyst))) == {mine, brand}
    assert services.can_edit(manager, mine) and not services.can_edit(manager, brand)
    assert not services.can_edit(Actor.for_user(analyst), brand)
    with pytest.raises(PermissionDenied):
        services.update_segment(manager, brand.pk, name="x")
    services.archive_segment(manager, mine.pk)
    assert mine not in services.segments_visible_to(manager)


def test_frozen_lists_are_in_a_personal_data_export_and_go_with_an_erasure(
    world, owner, operator, saved
):
    from siyu.customers import services as customers

    services.materialise(Actor.for_user(operator), saved.pk)
    amy = world.c["amy"]
    export = customers.export_personal_data(amy.pk, actor=Actor.for_user(owner))
    assert [s["segment"] for s in export["segment_lists"]] == [saved.name]
    customers.erase_customer(amy.pk, actor=Actor.for_user(owner), reason="PIPL request")
    assert not SegmentMember.objects.filter(customer_id=amy.pk).exists()
    assert SegmentMember.objects.filter(customer_id=world.c["bob"].pk).exists()
