"""A fulfilment hold (set at placement by another app, e.g. a group buy until it succeeds) keeps a
paid order from shipping, and from reaching its supplier, until that app releases it."""

import pytest

from siyu.core.access import Actor
from siyu.core.errors import Conflict
from siyu.orders import services
from siyu.orders.models import PurchaseOrder
from tests import commerce

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def _held_order(**product):
    sku = commerce.sku_of(commerce.product(**product))
    c = commerce.customer()
    order = services.place_order(
        SYSTEM,
        commerce.checkout([(sku, 1)], fulfilment_hold="group_buy:7"),
        customer_id=c.pk,
    ).order
    return commerce.pay(order)


def test_a_held_order_cannot_ship_until_its_hold_is_released():
    order = _held_order()
    assert order.fulfilment_hold == "group_buy:7"
    line = order.lines.get()
    assert services.shippable_quantities(order) == {line.pk: 0}
    with pytest.raises(Conflict) as refused:
        services.ship(order.pk, actor=SYSTEM, carrier="顺丰", tracking_no="SF1")
    assert refused.value.code == "on_hold"

    assert services.release_fulfilment_hold(order.pk, hold="group_buy:8", actor=SYSTEM) is False
    assert services.release_fulfilment_hold(order.pk, hold="group_buy:7", actor=SYSTEM) is True
    assert services.release_fulfilment_hold(order.pk, hold="group_buy:7", actor=SYSTEM) is False
    order.refresh_from_db()
    assert services.shippable_quantities(order) == {line.pk: 1}
    services.ship(order.pk, actor=SYSTEM, carrier="顺丰", tracking_no="SF1")


def test_a_held_drop_ship_order_reaches_its_supplier_only_on_release():
    order = _held_order(drop_ship=True)
    assert not PurchaseOrder.objects.filter(order=order).exists()
    services.release_fulfilment_hold(order.pk, hold="group_buy:7", actor=SYSTEM)
    assert PurchaseOrder.objects.filter(order=order).count() == 1
    services.release_fulfilment_hold(order.pk, hold="group_buy:7", actor=SYSTEM)
    assert PurchaseOrder.objects.filter(order=order).count() == 1


def test_releasing_a_hold_needs_the_ship_permission(make_staff):
    from siyu.core.access import Role
    from siyu.core.errors import PermissionDenied

    order = _held_order()
    analyst = Actor.for_user(make_staff(Role.ANALYST))
    with pytest.raises(PermissionDenied):
        services.release_fulfilment_hold(order.pk, hold="group_buy:7", actor=analyst)
