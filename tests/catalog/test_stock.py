"""Stock rows never go negative, every change is logged, and order-caused moves happen once."""

import pytest
from django.db import IntegrityError, transaction

from siyu.catalog import stock
from siyu.catalog.models import StockLevel, StockMovement, StockReason
from siyu.core.access import Actor
from siyu.core.errors import NotFound, PermissionDenied
from tests import commerce


@pytest.mark.django_db
def test_reservation_takes_available_units_and_logs_the_counters_after_it():
    sku = commerce.sku_of(commerce.product(stock=5))
    wh = commerce.warehouse()
    with transaction.atomic():
        chosen = stock.reserve(
            [(stock.StockChange(sku.pk, 0, 3, key="reserve:1:1", order_id=1), [wh.pk])]
        )
    assert chosen == {"reserve:1:1": wh.pk}
    level = commerce.stock_of(sku)
    assert (level.on_hand, level.reserved, level.available) == (5, 3, 2)
    movement = StockMovement.objects.get(key="reserve:1:1")
    assert (movement.reason, movement.reserved_delta, movement.on_hand_after) == (
        StockReason.RESERVATION,
        3,
        5,
    )
    assert movement.reserved_after == 3


@pytest.mark.django_db
def test_reservation_beyond_available_raises_out_of_stock_and_changes_nothing():
    sku = commerce.sku_of(commerce.product(stock=2))
    wh = commerce.warehouse()
    with pytest.raises(stock.OutOfStock) as err, transaction.atomic():
        stock.reserve([(stock.StockChange(sku.pk, 0, 3, key="reserve:9:1"), [wh.pk])])
    assert err.value.code == "out_of_stock"
    assert sku.code in err.value.fields
    assert commerce.stock_of(sku).reserved == 0
    assert not StockMovement.objects.exists()


@pytest.mark.django_db
def test_reservation_falls_back_to_the_next_location_by_priority(other_store):
    first = commerce.warehouse("WH-A")
    second = commerce.warehouse("WH-B")
    second.priority = 5
    second.save()
    sku = commerce.sku_of(commerce.product(stock=1, location=first))
    StockLevel.objects.create(sku=sku, location=second, on_hand=10)
    plans = stock.plan({sku.pk: 4})
    assert plans[sku.pk] == [second.pk, first.pk]  # only the second has enough
    with transaction.atomic():
        chosen = stock.reserve([(stock.StockChange(sku.pk, 0, 4, key="k"), plans[sku.pk])])
    assert chosen["k"] == second.pk


@pytest.mark.django_db
def test_database_check_refuses_negative_stock_even_for_raw_updates():
    sku = commerce.sku_of(commerce.product(stock=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(sku=sku).update(on_hand=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(sku=sku).update(reserved=2)  # more promised than on hand


@pytest.mark.django_db
def test_the_same_order_line_cannot_be_released_twice():
    sku = commerce.sku_of(commerce.product(stock=5))
    wh = commerce.warehouse()
    with transaction.atomic():
        stock.reserve([(stock.StockChange(sku.pk, 0, 2, key="reserve:5:1"), [wh.pk])])
    change = stock.StockChange(sku.pk, wh.pk, 2, key="release:5:1")
    with transaction.atomic():
        stock.release([change])
    with pytest.raises(IntegrityError), transaction.atomic():
        stock.release([change])
    assert commerce.stock_of(sku).reserved == 0  # the second release rolled back whole


@pytest.mark.django_db
def test_adjustment_needs_a_reason_and_cannot_go_below_reserved(operator):
    sku = commerce.sku_of(commerce.product(stock=5))
    wh = commerce.warehouse()
    actor = Actor.for_user(operator)
    with transaction.atomic():
        stock.reserve([(stock.StockChange(sku.pk, 0, 4, key="r"), [wh.pk])])
    with pytest.raises(stock.ValidationFailed):
        stock.adjust(sku.pk, wh.pk, -1, actor=actor, note=" ")
    with pytest.raises(stock.StockBelowReserved):
        stock.adjust(sku.pk, wh.pk, -2, actor=actor, note="盘点")
    movement = stock.adjust(sku.pk, wh.pk, -1, actor=actor, note="盘点: 破损一瓶")
    assert (movement.on_hand_after, movement.reserved_after) == (4, 4)
    assert movement.actor_label == "operator"
    assert movement.reason == StockReason.ADJUSTMENT


@pytest.mark.django_db
def test_store_manager_adjusts_only_their_own_store(store, other_store, store_manager, clerk):
    own = commerce.store_location(store)
    foreign = commerce.store_location(other_store)
    sku = commerce.sku_of(commerce.product(stock=0))
    manager = Actor.for_user(store_manager)
    stock.adjust(sku.pk, own.pk, 12, actor=manager, note="到货")
    assert StockLevel.objects.get(sku=sku, location=own).on_hand == 12
    with pytest.raises(NotFound):
        stock.adjust(sku.pk, foreign.pk, 1, actor=manager, note="到货")
    with pytest.raises(PermissionDenied):
        stock.adjust(sku.pk, own.pk, 1, actor=Actor.for_user(clerk), note="到货")


@pytest.mark.django_db
def test_movements_are_append_only():
    sku = commerce.sku_of(commerce.product(stock=5))
    movement = stock.adjust(
        sku.pk, commerce.warehouse().pk, 1, actor=Actor.system("t"), note="count"
    )
    movement.note = "rewritten"
    with pytest.raises(RuntimeError):
        movement.save()
    with pytest.raises(RuntimeError):
        movement.delete()
