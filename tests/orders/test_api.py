"""The orders API: shoppers' cart, checkout and orders (their own only); staff order handling."""

import json

import pytest

from siyu.orders.models import AfterSale, Order, OrderStatus
from tests import commerce

SHOP = "/api/v1/orders/shop"


def post(client, url, body=None, **headers):
    return client.post(
        url, data=json.dumps(body or {}), content_type="application/json", headers=headers
    )


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def checkout_body(sku, quantity=1, **extra):
    return {
        "items": [{"sku_id": sku.pk, "quantity": quantity}],
        "address": commerce.ADDRESS,
        **extra,
    }


@pytest.mark.django_db
def test_shopper_fills_the_cart_quotes_and_places_an_order_once_per_key(shopper_client):
    sku = commerce.sku_of(commerce.product(price_fen=12900, stock=5))
    c = commerce.customer()
    client = shopper_client(c)
    cart = post(client, f"{SHOP}/cart", {"sku_id": sku.pk, "quantity": 2}).json()
    assert (cart["selected_count"], cart["selected_amount_fen"]) == (2, 25800)
    assert cart["lines"][0]["available"] == 5
    quote = post(client, f"{SHOP}/checkout/quote", {"from_cart": True}).json()
    assert (quote["goods_amount_fen"], quote["shipping_fen"], quote["payable_fen"]) == (
        25800,
        0,
        25800,
    )

    body = {"from_cart": True, "address": commerce.ADDRESS}
    first = post(client, f"{SHOP}/orders", body, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == 201, first.json()
    order = first.json()
    assert (order["status"], order["payable_fen"], order["lines"][0]["quantity"]) == (
        "pending_payment",
        25800,
        2,
    )
    assert order["lines"][0]["cost_fen"] is None  # shoppers never see costs
    assert order["credited"] is None
    assert order["receiver"]["phone"] == "13812345678"
    again = post(client, f"{SHOP}/orders", body, **{"Idempotency-Key": "abc-1"})
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == order["id"]
    assert Order.objects.count() == 1
    assert client.get(f"{SHOP}/cart").json()["lines"] == []  # ordered lines left the cart


@pytest.mark.django_db
def test_placing_without_an_idempotency_key_or_a_client_price_is_refused(shopper_client):
    sku = commerce.sku_of(commerce.product(price_fen=12900))
    client = shopper_client(commerce.customer())
    missing = post(client, f"{SHOP}/orders", checkout_body(sku))
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    # a price in the body is ignored: the catalogue decides
    cheap = post(
        client,
        f"{SHOP}/orders",
        {**checkout_body(sku), "payable_fen": 1},
        **{"Idempotency-Key": "k"},
    )
    assert cheap.json()["payable_fen"] == 12900


@pytest.mark.django_db
def test_out_of_stock_answers_409_with_the_sku(shopper_client):
    sku = commerce.sku_of(commerce.product(stock=1))
    response = post(
        shopper_client(commerce.customer()),
        f"{SHOP}/orders",
        checkout_body(sku, 2),
        **{"Idempotency-Key": "k"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_stock"
    assert sku.code in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_a_shopper_never_sees_or_touches_another_shoppers_orders(shopper_client):
    sku = commerce.sku_of(commerce.product())
    alice, bob = commerce.customer("Alice"), commerce.customer("Bob")
    mine = commerce.place(alice, [(sku, 1)])
    theirs = commerce.place(bob, [(sku, 1)])
    client = shopper_client(alice)
    listed = client.get(f"{SHOP}/orders").json()["items"]
    assert [o["id"] for o in listed] == [mine.pk]
    assert client.get(f"{SHOP}/orders/{theirs.pk}").status_code == 404
    assert post(client, f"{SHOP}/orders/{theirs.pk}/cancel").status_code == 404
    assert (
        post(
            client,
            f"{SHOP}/orders/{theirs.pk}/after-sales",
            {"kind": "refund_only", "reason": "other", "quantities": {}},
        ).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/orders/{theirs.pk}").status_code == 401
    )  # the staff API is not for shoppers
    theirs.refresh_from_db()
    assert theirs.status == OrderStatus.PENDING_PAYMENT
    anonymous = post(
        type(client)(), f"{SHOP}/orders", checkout_body(sku), **{"Idempotency-Key": "x"}
    )
    assert anonymous.status_code == 401


@pytest.mark.django_db
def test_shopper_cancels_pays_confirms_and_asks_for_a_refund(shopper_client, operator, api_client):
    sku = commerce.sku_of(commerce.product(price_fen=5000, stock=5))
    c = commerce.customer()
    client = shopper_client(c)
    unpaid = commerce.place(c, [(sku, 1)])
    assert (
        post(client, f"{SHOP}/orders/{unpaid.pk}/cancel", {"reason": "下错了"}).json()["status"]
        == "cancelled"
    )

    order = commerce.pay(commerce.place(c, [(sku, 2)]))
    staff = api_client(operator)
    line_id = order.lines.get().pk
    shipped = post(
        staff, f"/api/v1/orders/{order.pk}/ship", {"carrier": "顺丰", "tracking_no": "SF100"}
    )
    assert shipped.status_code == 200 and shipped.json()["status"] == "shipped"
    done = post(client, f"{SHOP}/orders/{order.pk}/confirm")
    assert done.json()["status"] == "completed"
    assert [h["to_status"] for h in done.json()["history"]] == [
        "pending_payment",
        "paid",
        "shipped",
        "completed",
    ]
    case = post(
        client,
        f"{SHOP}/orders/{order.pk}/after-sales",
        {
            "kind": "return_refund",
            "reason": "allergy",
            "quantities": {str(line_id): 1},
            "description": "用后发红",
        },
    )
    assert case.status_code == 201 and case.json()["amount_fen"] == 5000
    queue = staff.get("/api/v1/orders/after-sales?status=requested").json()["items"]
    assert [q["number"] for q in queue] == [case.json()["number"]]
    approved = post(
        staff, f"/api/v1/orders/after-sales/{queue[0]['id']}/approve", {"note": "同意退货"}
    )
    assert approved.json()["status"] == "awaiting_return"
    sent = post(
        client,
        f"{SHOP}/after-sales/{queue[0]['id']}/return",
        {"carrier": "中通", "tracking_no": "ZT9"},
    )
    assert sent.json()["status"] == "return_shipped"
    received = post(
        staff, f"/api/v1/orders/after-sales/{queue[0]['id']}/receive", {"restock": True}
    )
    assert received.json()["status"] == "refunding"
    commerce.settle_refunds(order)
    assert AfterSale.objects.get().status == "refunded"
    mine = client.get(f"{SHOP}/orders/{order.pk}").json()
    assert (mine["refunded_fen"], mine["lines"][0]["refunded_quantity"]) == (5000, 1)


@pytest.mark.django_db
def test_staff_list_filters_pages_and_masks_receivers_for_analysts(api_client, operator, analyst):
    sku = commerce.sku_of(commerce.product())
    c = commerce.customer()
    orders = [commerce.place(c, [(sku, 1)]) for _ in range(3)]
    commerce.pay(orders[0])
    staff = api_client(operator)
    page = staff.get("/api/v1/orders/?size=2").json()
    assert [o["id"] for o in page["items"]] == [orders[2].pk, orders[1].pk]
    rest = staff.get(f"/api/v1/orders/?size=2&after={page['next_cursor']}").json()
    assert [o["id"] for o in rest["items"]] == [orders[0].pk] and rest["next_cursor"] is None
    paid = staff.get("/api/v1/orders/?status=paid").json()["items"]
    assert [o["id"] for o in paid] == [orders[0].pk]
    by_number = staff.get(f"/api/v1/orders/?q={orders[1].number}").json()["items"]
    assert [o["id"] for o in by_number] == [orders[1].pk]
    full = staff.get(f"/api/v1/orders/{orders[0].pk}").json()
    assert full["receiver"]["phone"] == "13812345678" and full["lines"][0]["cost_fen"] == 6000
    masked = api_client(analyst).get(f"/api/v1/orders/{orders[0].pk}").json()
    assert masked["receiver"]["phone"] == "138****5678"
    assert masked["lines"][0]["cost_fen"] == 6000  # analysts see margins, not phones


@pytest.mark.django_db
def test_clerks_see_only_orders_of_customers_they_serve(api_client, clerk, make_staff):
    from siyu.core.access import Role

    sku = commerce.sku_of(commerce.product())
    mine = commerce.customer("我的", owner_kind="clerk", owner_id=clerk.pk, owner_user=clerk)
    other_clerk = make_staff(Role.CLERK, username="other")
    theirs = commerce.customer(
        "别人的", owner_kind="clerk", owner_id=other_clerk.pk, owner_user=other_clerk
    )
    a = commerce.place(mine, [(sku, 1)])
    b = commerce.place(theirs, [(sku, 1)])
    client = api_client(clerk)
    assert [o["id"] for o in client.get("/api/v1/orders/").json()["items"]] == [a.pk]
    assert client.get(f"/api/v1/orders/{b.pk}").status_code == 404
    assert post(client, f"/api/v1/orders/{a.pk}/cancel").status_code == 403  # clerks do not cancel


@pytest.mark.django_db
def test_staff_refunds_part_of_a_line_from_the_api(api_client, operator):
    sku = commerce.sku_of(commerce.product(price_fen=10000, stock=5))
    order = commerce.pay(commerce.place(commerce.customer(), [(sku, 2)]))
    line_id = order.lines.get().pk
    staff = api_client(operator)
    response = post(
        staff,
        f"/api/v1/orders/{order.pk}/refund",
        {
            "quantities": {str(line_id): 1},
            "amounts": {str(line_id): 3000},
            "reason": "damaged",
            "note": "外盒破损补偿",
        },
    )
    assert response.status_code == 200, response.json()
    assert response.json()["after_sales"][0]["status"] == "refunding"
    commerce.settle_refunds(order)
    assert order.refunded_fen == 3000 and order.status == "paid"


@pytest.mark.django_db
def test_purchase_orders_export_and_tracking_import_over_the_api(api_client, operator):
    sku = commerce.sku_of(commerce.product("代发面膜", drop_ship=True))
    order = commerce.pay(commerce.place(commerce.customer(), [(sku, 1)]))
    staff = api_client(operator)
    listed = staff.get("/api/v1/orders/purchase-orders?status=pending").json()["items"]
    assert [p["order_number"] for p in listed] == [order.number]
    export = staff.get(
        f"/api/v1/orders/purchase-orders/export?supplier_id={commerce.supplier().pk}"
    )
    assert export["Content-Type"].startswith("text/csv")
    text = export.content.decode("utf-8-sig").replace(",,\r\n", ",圆通,YT1\r\n")
    from django.core.files.uploadedfile import SimpleUploadedFile

    result = staff.post(
        "/api/v1/orders/purchase-orders/tracking",
        {"file": SimpleUploadedFile("t.csv", text.encode("gb18030"))},
    )
    assert result.json()["shipped"] == [listed[0]["number"]]
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
