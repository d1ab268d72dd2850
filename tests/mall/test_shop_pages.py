"""Browsing, cart, checkout, orders and after-sales pages, through the orders services, and only
ever the shopper's own records."""

from __future__ import annotations

import json

import pytest

from siyu.catalog.models import Product
from siyu.core.access import Actor
from siyu.mall import services as mall_services
from siyu.orders.models import AfterSale, CartItem, Order, OrderStatus
from tests import commerce

pytestmark = pytest.mark.django_db


@pytest.fixture
def serum(db):
    p = commerce.product("玻尿酸保湿精华", skus=2, price_fen=19900, stock=5)
    Product.objects.filter(pk=p.pk).update(is_featured=True, subtitle="补水 保湿")
    return p


@pytest.fixture
def alice(make_customer):
    return make_customer("13911110000", "Alice")


@pytest.fixture
def bob(make_customer):
    return make_customer("13922220000", "Bob")


def add_address(customer, **changes):
    values = {
        "receiver_name": "林小雨",
        "receiver_phone": "13800138000",
        "province": "上海市",
        "city": "上海市",
        "district": "静安区",
        "detail": "南京西路1515号 12楼",
    }
    values.update(changes)
    return mall_services.save_address(
        mall_services.AddressInput(**values), actor=Actor.for_customer(customer.pk)
    )


def test_home_shows_categories_and_featured_products(client, serum):
    page = client.get("/m/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "玻尿酸保湿精华" in html and "¥199.00" in html and "精华" in html


def test_search_and_category_list_what_is_on_the_shelf(client, serum):
    commerce.product("旧款面霜")  # on shelf too
    Product.objects.filter(title="旧款面霜").update(status="off_shelf")
    found = client.get("/m/search/", {"q": "保湿"})
    assert [p.pk for p in found.context["products"]] == [serum.pk]
    assert client.get("/m/search/", {"q": "面霜"}).context["products"] == []
    listing = client.get(f"/m/c/{serum.category_id}/", {"sort": "price_desc"})
    assert [p.pk for p in listing.context["products"]] == [serum.pk]


def test_product_page_resolves_the_sku_and_shows_its_stock(client, serum):
    small, large = commerce.sku_of(serum, 0), commerce.sku_of(serum, 1)
    commerce.stock_of(large).__class__.objects.filter(pk=commerce.stock_of(large).pk).update(
        on_hand=0
    )
    page = client.get(f"/m/p/{serum.pk}/")
    picker = page.context["picker"]
    assert picker.sku is None and not picker.can_buy
    options = {o.value: o.enabled for o in picker.groups[0].options}
    assert options == {"30ml": True, "50ml": False}  # 50ml is sold out
    chosen = client.get(
        f"/m/p/{serum.pk}/",
        {"spec:规格": "30ml"},
        headers={"HX-Request": "true", "HX-Target": "buy-panel"},
    )
    assert chosen.context["picker"].sku == small
    assert chosen.context["picker"].stock.key == "low"  # 5 left
    assert "Only 5 left" in chosen.content.decode() or "仅剩 5 件" in chosen.content.decode()
    assert client.get("/m/p/999999/").status_code == 404


def test_adding_to_the_cart_needs_a_login_and_comes_back_to_the_product(client, serum):
    sku = commerce.sku_of(serum)
    response = client.post(
        "/m/cart/add/",
        {"sku_id": sku.pk, "quantity": 1},
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver/m/p/{serum.pk}/"},
    )
    assert response["HX-Redirect"] == f"/m/login/?next=%2Fm%2Fp%2F{serum.pk}%2F"


def test_cart_add_update_select_and_totals(alice, serum, shopper_client):
    client = shopper_client(alice)
    small, large = commerce.sku_of(serum, 0), commerce.sku_of(serum, 1)
    added = client.post(
        "/m/cart/add/", {"sku_id": small.pk, "quantity": 2}, headers={"HX-Request": "true"}
    )
    assert json.loads(added["HX-Trigger"])["cartChanged"] == {"count": 2}
    client.post("/m/cart/add/", {"sku_id": large.pk, "quantity": 1}, headers={"HX-Request": "true"})
    page = client.get("/m/cart/")
    assert page.context["chosen_total_fen"] == 2 * 19900 + 20900
    client.post(
        "/m/cart/update/", {"action": "select", "sku_id": large.pk}, headers={"HX-Request": "true"}
    )
    updated = client.post(
        "/m/cart/update/",
        {"action": "quantity", "sku_id": small.pk, "quantity": 3},
        headers={"HX-Request": "true"},
    )
    assert updated.context["chosen_total_fen"] == 3 * 19900
    assert json.loads(updated["HX-Trigger"])["cartChanged"] == {"count": 4}
    client.post("/m/cart/update/", {"action": "remove", "sku_id": large.pk})
    assert list(CartItem.objects.filter(customer=alice).values_list("sku_id", flat=True)) == [
        small.pk
    ]


def test_checkout_from_the_cart_places_one_order_even_when_submitted_twice(
    alice, serum, shopper_client
):
    client = shopper_client(alice)
    address = add_address(alice)
    sku = commerce.sku_of(serum)
    client.post("/m/cart/add/", {"sku_id": sku.pk, "quantity": 2})
    page = client.get("/m/checkout/", {"from": "cart"})
    assert page.context["address"] == address
    assert page.context["quote"].payable_fen == 2 * 19900  # free delivery from ¥99
    key = page.context["idempotency_key"]
    form = {
        "from": "cart",
        "method": "delivery",
        "address": address.pk,
        "idempotency_key": key,
        "item": [f"{s}:{q}" for s, q in page.context["checkout"].items],
    }
    first = client.post("/m/checkout/", form)
    second = client.post("/m/checkout/", form)
    order = Order.objects.get()
    assert first.url == second.url == f"/m/orders/{order.pk}/pay/"
    assert order.payable_fen == 2 * 19900 and order.receiver_name == "林小雨"
    assert order.status == OrderStatus.PENDING_PAYMENT and order.channel == "mall"
    assert not CartItem.objects.filter(customer=alice).exists()


def test_buy_now_checks_out_one_sku_with_store_pickup(alice, serum, shopper_client, store):
    client = shopper_client(alice)
    location = commerce.store_location(store)
    sku = commerce.sku_of(serum)
    commerce.stock_of(sku).__class__.objects.create(sku=sku, location=location, on_hand=3)
    redirect = client.post("/m/buy/", {"sku_id": sku.pk, "quantity": 1})
    assert redirect.url == f"/m/checkout/?sku={sku.pk}&quantity=1"
    page = client.get("/m/checkout/", {"sku": sku.pk, "quantity": 1, "method": "pickup"})
    assert page.context["store_id"] == store.pk and page.context["quote"].shipping_fen == 0
    placed = client.post(
        "/m/checkout/",
        {
            "sku": sku.pk,
            "quantity": 1,
            "method": "pickup",
            "store": store.pk,
            "pickup_name": "林小雨",
            "pickup_phone": "13911110000",
            "idempotency_key": "k-1",
        },
    )
    order = Order.objects.get()
    assert placed.status_code == 302 and order.is_pickup and order.store_id == store.pk


def test_checkout_never_uses_another_shoppers_address(alice, bob, serum, shopper_client):
    hers = add_address(alice)
    client = shopper_client(bob)
    sku = commerce.sku_of(serum)
    page = client.get("/m/checkout/", {"sku": sku.pk, "quantity": 1, "address": hers.pk})
    assert page.status_code == 302 and "address=" not in page.url
    assert client.get(page.url).context["address"] is None


def test_orders_and_after_sales_are_only_the_shoppers_own(alice, bob, serum, shopper_client):
    order = commerce.place(alice, [(commerce.sku_of(serum), 1)])
    commerce.pay(order)
    alice_client, bob_client = shopper_client(alice), shopper_client(bob)
    assert [o.pk for o in alice_client.get("/m/orders/").context["orders"]] == [order.pk]
    assert bob_client.get("/m/orders/").context["orders"] == []
    assert bob_client.get(f"/m/orders/{order.pk}/").status_code == 404
    assert bob_client.get(f"/m/orders/{order.pk}/pay/").status_code == 404
    assert bob_client.post(f"/m/orders/{order.pk}/cancel/").status_code == 302
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert bob_client.get(f"/m/orders/{order.pk}/after-sales/new/").status_code == 404

    line = order.lines.get()
    made = alice_client.post(
        f"/m/orders/{order.pk}/after-sales/new/",
        {"kind": "refund_only", f"qty_{line.pk}": 1, "reason": "not_wanted"},
    )
    case = AfterSale.objects.get()
    order.refresh_from_db()
    assert made.url == f"/m/after-sales/{case.pk}/" and case.amount_fen == order.paid_fen
    assert bob_client.get(f"/m/after-sales/{case.pk}/").status_code == 404
    assert (
        bob_client.post(f"/m/after-sales/{case.pk}/action/", {"action": "withdraw"}).status_code
        == 404
    )
    assert list(bob_client.get("/m/after-sales/").context["cases"]) == []
    detail = alice_client.get(f"/m/orders/{order.pk}/")
    assert [c.pk for c in detail.context["cases"]] == [case.pk]
    summary = {s["key"]: s["count"] for s in alice_client.get("/m/me/").context["summary"]}
    assert summary == {"to_pay": 0, "to_ship": 1, "to_receive": 0, "after_sales": 1}


def test_an_unpaid_order_can_be_cancelled_by_its_shopper(alice, serum, shopper_client):
    sku = commerce.sku_of(serum)
    order = commerce.place(alice, [(sku, 2)])
    client = shopper_client(alice)
    detail = client.get(f"/m/orders/{order.pk}/")
    assert detail.context["can_pay"]
    client.post(f"/m/orders/{order.pk}/cancel/")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert commerce.stock_of(sku).reserved == 0


def test_share_link_credits_the_clerk_on_the_order(alice, serum, shopper_client, clerk):
    add_address(alice)
    client = shopper_client(alice)
    client.get("/m/", {"staff_ref": clerk.pk})
    sku = commerce.sku_of(serum)
    client.post(
        "/m/checkout/",
        {"sku": sku.pk, "quantity": 1, "method": "delivery", "idempotency_key": "k-share"},
    )
    order = Order.objects.get()
    assert order.credited_user_id == clerk.pk and order.channel == "clerk"


def test_paying_with_the_dev_provider_marks_the_order_paid(
    alice, serum, shopper_client, run_tasks, django_capture_on_commit_callbacks
):
    order = commerce.place(alice, [(commerce.sku_of(serum), 1)])
    client = shopper_client(alice)
    pay_page = client.get(f"/m/orders/{order.pk}/pay/")
    assert pay_page.status_code == 200
    started = client.post(pay_page.context["pay_url"])
    assert started.status_code == 302 and "/m/payments/dev/cashier/" in started.url
    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(started.url, {"action": "pay"})
    assert paid.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        run_tasks()  # the dev provider's signed notification reaches our endpoint
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.paid_fen == order.payable_fen
    assert client.get(f"/m/orders/{order.pk}/pay/").url == f"/m/orders/{order.pk}/"


def test_inside_wechat_a_phone_shopper_links_wechat_before_paying(
    alice, serum, shopper_client, settings
):
    settings.SIYU_WECHAT_OAUTH = "fake"
    order = commerce.place(alice, [(commerce.sku_of(serum), 1)])
    client = shopper_client(alice)
    in_wechat = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50"}
    page = client.get(f"/m/orders/{order.pk}/pay/", headers=in_wechat)
    assert page.context["link_wechat_url"] == (
        f"/m/login/wechat/?next=%2Fm%2Forders%2F{order.pk}%2Fpay%2F"
    )
    assert client.get(f"/m/orders/{order.pk}/pay/").context["link_wechat_url"] == ""
