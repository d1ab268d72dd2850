"""Compliance by construction: free to join, at most two levels, commission only on paid sales,
never for recruiting."""

import pytest
from django.db import IntegrityError, connection, transaction

from siyu.core.access import Actor
from siyu.core.errors import ValidationFailed
from siyu.distribution import services
from siyu.distribution.models import Commission, Distributor, ProgramSettings
from siyu.ledger.models import JournalEntry

from .conftest import SYSTEM, make_customer, make_distributor


def test_settings_have_no_entry_fee_or_purchase_gate():
    """Adding any such field must be a deliberate act that fails here first: see
    docs/distribution.md, "No entry fee, no purchase gate"."""
    names = {f.name for f in ProgramSettings._meta.get_fields()}
    assert names == {
        "id",
        "join_mode",
        "levels",
        "binding_rule",
        "binding_days",
        "self_purchase_rebate",
        "after_sales_days",
        "min_withdrawal_fen",
        "updated_at",
        "updated_by",
    }
    banned = ("fee", "price", "purchase_threshold", "min_purchase", "deposit", "spend", "buy")
    assert not [n for n in names for word in banned if word in n]


def test_no_setting_can_add_a_fee(db):
    with pytest.raises(ValidationFailed) as err:
        services.update_program(actor=SYSTEM, entry_fee_fen=9900)
    assert "entry_fee_fen" in err.value.fields


def test_joining_is_free_and_needs_no_purchase(db):
    services.update_program(actor=SYSTEM, join_mode="open")
    customer = make_customer("从没买过")
    distributor = services.join(customer.pk, actor=Actor.for_customer(customer.pk))
    assert isinstance(distributor, Distributor)
    assert customer.orders.count() == 0
    assert JournalEntry.objects.count() == 0


def test_recruiting_earns_nothing(db, programme):
    services.update_program(actor=SYSTEM, join_mode="open")
    boss = make_distributor("大区")
    for _i in range(5):
        recruit = make_customer()
        services.join(recruit.pk, actor=Actor.for_customer(recruit.pk), invite_code=boss.code)
    assert boss.recruits.count() == 5
    assert JournalEntry.objects.count() == 0
    assert Commission.objects.count() == 0


def test_levels_setting_is_one_or_two(db):
    with pytest.raises(services.CommissionDepthExceeded):
        services.update_program(actor=SYSTEM, levels=3)
    ProgramSettings.objects.get_or_create(pk=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProgramSettings.objects.filter(pk=1).update(levels=3)


def test_the_model_refuses_a_third_level(db):
    top = make_distributor("一级")
    second = make_distributor("二级", parent=top)
    with pytest.raises(services.CommissionDepthExceeded):
        make_distributor("三级", parent=second)
    from django.core.exceptions import ValidationError

    third = Distributor(parent=second)
    with pytest.raises(ValidationError):
        third.clean()


def test_a_third_level_recruit_becomes_top_level_with_the_invitation_remembered(db, programme):
    services.update_program(actor=SYSTEM, join_mode="open")
    top = make_distributor("一级")
    second = make_distributor("二级", parent=top)
    newcomer = make_customer()
    joined = services.join(
        newcomer.pk, actor=Actor.for_customer(newcomer.pk), invite_code=second.code
    )
    assert joined.parent_id is None and joined.depth == 1
    assert joined.invited_by_id == second.pk


def test_database_refuses_a_third_level(db):
    """Raw SQL, bypassing the model: the CHECKs and the trigger still hold."""
    top = make_distributor("一级")
    second = make_distributor("二级", parent=top)
    other = make_distributor("另一个")
    table = Distributor._meta.db_table
    # depth 3 is out of range
    with pytest.raises(IntegrityError), transaction.atomic():
        Distributor.objects.filter(pk=other.pk).update(depth=3)
    # a parent that is itself at depth 2
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET parent_id = %s, depth = 2 WHERE id = %s", [second.pk, other.pk]
        )
    # a distributor with recruits getting a parent of its own
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET parent_id = %s, depth = 2 WHERE id = %s", [other.pk, top.pk]
        )
    # depth must match having a parent
    with pytest.raises(IntegrityError), transaction.atomic():
        Distributor.objects.filter(pk=other.pk).update(depth=2)


def test_database_refuses_commission_beyond_level_two(db):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Commission._meta.db_table} (order_id, order_line_id, level, "
            "distributor_id, buyer_id, base_fen, rate_source, rate_mode, rate_value, amount_fen, "
            "reversed_fen, clawed_back_fen, refunded_base_fen, status, paid_at, created_at) "
            "VALUES (1, 1, 3, 1, 1, 100, 'level', 'percent', 1000, 10, 0, 0, 0, 'pending', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
