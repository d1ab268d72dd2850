"""Through the API too, a shopper session reaches only that shopper's orders and after-sales,
and never a staff endpoint."""

from __future__ import annotations

import pytest

from siyu.orders.models import AfterSale, Order, OrderStatus
from siyu.orders.services import request_after_sale
from tests import commerce

pytestmark = pytest.mark.django_db
SHOP = "/api/v1/orders/shop"


@pytest.fixture
def alices_paid_order(make_customer):
    alice = make_customer("13911110000", "Alice")
    order = commerce.place(alice, [(commerce.sku_of(commerce.product()), 1)])
    commerce.pay(order)
    return alice, Order.objects.get(pk=order.pk)


def test_another_shoppers_orders_and_after_sales_do_not_exist_for_you(
    alices_paid_order, make_customer, shopper_client
):
    alice, order = alices_paid_order
    case = request_after_sale(
        order.pk,
        actor=commerce.shopper(alice),
        kind="refund_only",
        quantities={order.lines.get().pk: 1},
        reason="not_wanted",
    )
    bob = shopper_client(make_customer("13922220000", "Bob"))
    mine = shopper_client(alice)

    assert [o["id"] for o in mine.get(f"{SHOP}/orders").json()["items"]] == [order.pk]
    assert bob.get(f"{SHOP}/orders").json()["items"] == []
    assert bob.get(f"{SHOP}/orders/{order.pk}").status_code == 404
    cancel = bob.post(
        f"{SHOP}/orders/{order.pk}/cancel", {"reason": "x"}, content_type="application/json"
    )
    assert cancel.status_code == 404
    made = bob.post(
        f"{SHOP}/orders/{order.pk}/after-sales",
        {
            "kind": "refund_only",
            "reason": "not_wanted",
            "quantities": {str(order.lines.get().pk): 1},
        },
        content_type="application/json",
    )
    assert made.status_code == 404
    assert bob.get(f"{SHOP}/after-sales").json() == []
    assert bob.post(f"{SHOP}/after-sales/{case.pk}/withdraw").status_code == 404
    assert AfterSale.objects.get(pk=case.pk).status == "requested"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


def test_a_shopper_session_opens_no_staff_endpoint(alices_paid_order, shopper_client):
    alice, order = alices_paid_order
    client = shopper_client(alice)
    assert client.get("/api/v1/orders/").status_code == 401
    assert client.get(f"/api/v1/orders/{order.pk}").status_code == 401
    assert client.get("/api/v1/customers/").status_code in (401, 404)
