"""Console pages, H5 pages and the API: who may see and do what, and what they show."""

from __future__ import annotations

import pytest

from siyu.marketing.models import CouponIssue, CustomerCoupon
from tests.commerce import ADDRESS, customer, product, sku_of

from .conftest import make_coupon, make_sale

pytestmark = pytest.mark.django_db


# --- console ----------------------------------------------------------------------------------------


def test_operator_creates_a_coupon_in_yuan_and_sees_its_figures(console_client, operator):
    client = console_client(operator)
    response = client.post(
        "/console/marketing/coupons/new/",
        {
            "name": "满200减30",
            "kind": "threshold",
            "amount_yuan": "30",
            "min_spend_yuan": "200",
            "scope": "shop",
            "valid_days": "15",
            "per_customer_limit": "1",
            "refund_policy": "return_on_full_refund",
            "claimable": "on",
            "activate": "on",
        },
    )
    assert response.status_code == 302
    coupon = CustomerCoupon._meta.get_field("coupon").related_model.objects.get()
    assert (coupon.amount_fen, coupon.min_spend_fen, coupon.status) == (3000, 20000, "active")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "满200减30" in page.content.decode()
    assert client.get("/console/marketing/").status_code == 200


def test_a_bad_coupon_form_names_the_field(console_client, operator):
    client = console_client(operator)
    response = client.post(
        "/console/marketing/coupons/new/",
        {
            "name": "坏券",
            "kind": "fixed",
            "amount_yuan": "abc",
            "scope": "shop",
            "valid_days": "3",
            "per_customer_limit": "1",
            "refund_policy": "keep",
        },
    )
    assert response.status_code == 200
    assert "amount_yuan" in response.context["form"].errors


def test_operator_issues_to_a_customer_list_from_the_coupon_page(console_client, operator):
    coupon = make_coupon()
    people = [customer() for _ in range(3)]
    response = console_client(operator).post(
        f"/console/marketing/coupons/{coupon.pk}/",
        {"customer_ids": ",".join(str(c.pk) for c in people), "channel": "sms"},
    )
    assert response.status_code == 302
    run = CouponIssue.objects.get()
    assert (run.requested, run.issued) == (3, 3)


def test_analyst_sees_but_cannot_create_or_issue(console_client, analyst):
    coupon = make_coupon()
    client = console_client(analyst)
    assert client.get("/console/marketing/").status_code == 200
    assert client.get("/console/marketing/coupons/new/").status_code == 403
    page = client.get(f"/console/marketing/coupons/{coupon.pk}/")
    assert page.status_code == 200 and page.context["form"] is None
    assert (
        client.post(
            f"/console/marketing/coupons/{coupon.pk}/status/", {"status": "stopped"}
        ).status_code
        == 403
    )


def test_a_clerk_has_no_marketing_pages(console_client, clerk):
    assert console_client(clerk).get("/console/marketing/").status_code == 403


def test_operator_creates_and_watches_a_flash_sale(console_client, operator):
    sku = sku_of(product(price_fen=19900))
    client = console_client(operator)
    response = client.post(
        "/console/marketing/flash-sales/new/",
        {
            "title": "周五秒杀",
            "kind": "flash_sale",
            "starts_at": "2030-01-01T10:00",
            "ends_at": "2030-01-01T12:00",
            "per_customer_limit": "2",
            "items": f"{sku.code}, 99, 50",
            "publish": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    page = client.get(response["Location"])
    assert "周五秒杀" in page.content.decode()
    figures = client.get(response["Location"] + "?part=figures", HTTP_HX_REQUEST="true")
    assert 'data-testid="sale-figures"' in figures.content.decode()
    assert client.get("/console/marketing/flash-sales/").status_code == 200


def test_a_flash_sale_form_names_a_bad_line(console_client, operator):
    response = console_client(operator).post(
        "/console/marketing/flash-sales/new/",
        {
            "title": "x",
            "kind": "flash_sale",
            "starts_at": "2030-01-01T10:00",
            "ends_at": "2030-01-01T12:00",
            "per_customer_limit": "1",
            "items": "NOPE, 1, 1",
        },
    )
    assert "items" in response.context["form"].errors


# --- H5 ---------------------------------------------------------------------------------------------


def test_the_coupon_centre_lists_coupons_and_claiming_needs_a_login(client, shopper_client):
    coupon = make_coupon("新客立减20")
    page = client.get("/m/marketing/")
    assert page.status_code == 200 and "新客立减20" in page.content.decode()
    anonymous = client.post(f"/m/marketing/claim/{coupon.pk}/")
    assert anonymous.status_code == 302 and "/m/login/" in anonymous["Location"]
    c = customer()
    shopper = shopper_client(c)
    card = shopper.post(f"/m/marketing/claim/{coupon.pk}/", HTTP_HX_REQUEST="true")
    assert 'data-testid="claimed"' in card.content.decode()
    assert CustomerCoupon.objects.filter(customer=c, coupon=coupon).count() == 1
    mine = shopper.get("/m/marketing/mine/")
    assert "新客立减20" in mine.content.decode()
    assert 'data-testid="coupons-panel"' in shopper.get("/m/me/").content.decode()


def test_a_share_link_claims_a_hidden_coupon(shopper_client):
    coupon = make_coupon("好友专享", claimable=False)
    shopper = shopper_client(customer())
    page = shopper.get(f"/m/marketing/s/{coupon.share_code}/")
    assert page.status_code == 200 and "好友专享" in page.content.decode()
    shopper.post(f"/m/marketing/claim/{coupon.pk}/", {"share": coupon.share_code})
    assert CustomerCoupon.objects.filter(coupon=coupon, source="share").count() == 1
    assert shopper.get("/m/marketing/s/NOPE/").status_code == 404


def test_checkout_preselects_the_best_coupon_and_honours_no_coupon(shopper_client):
    from siyu.marketing import services

    c = customer()
    for n, amount in enumerate((500, 3000)):
        services.grant_coupon(
            customer_id=c.pk,
            coupon_id=make_coupon(f"券{amount}", amount_fen=amount).pk,
            source="t",
            idempotency_key=f"k{n}",
        )
    sku = sku_of(product(price_fen=19900))
    shopper = shopper_client(c)
    page = shopper.get(f"/m/checkout/?sku={sku.pk}&quantity=1")
    quote = page.context["quote"]
    assert quote.discount_fen == 3000
    best = CustomerCoupon.objects.get(coupon__name="券3000")
    assert page.context["wanted"].coupon == best.code
    plain = shopper.get(f"/m/checkout/?sku={sku.pk}&quantity=1&coupon=none")
    assert plain.context["quote"].discount_fen == 0


def test_the_flash_sale_page_shows_a_countdown_and_the_activity_price(client):
    make_sale(sku_of(product("秒杀面膜", price_fen=19900)), price_fen=9900)
    page = client.get("/m/marketing/flash/")
    body = page.content.decode()
    assert "秒杀面膜" in body and 'data-testid="countdown"' in body and "99.00" in body


def test_buying_on_the_flash_sale_page_goes_to_payment(shopper_client):
    from siyu.core.access import Actor
    from siyu.mall import services as mall
    from siyu.mall.services import AddressInput

    c = customer()
    me = Actor.for_customer(c.pk)
    mall.save_address(
        AddressInput(
            receiver_name=ADDRESS["name"],
            receiver_phone=ADDRESS["phone"],
            province=ADDRESS["province"],
            city=ADDRESS["city"],
            district=ADDRESS["district"],
            detail=ADDRESS["detail"],
        ),
        actor=me,
    )
    sale = make_sale(sku_of(product(price_fen=19900)), price_fen=9900)
    item = sale.items.get()
    shopper = shopper_client(c)
    page = shopper.get(f"/m/marketing/flash/{item.pk}/buy/")
    assert page.status_code == 200
    placed = shopper.post(
        f"/m/marketing/flash/{item.pk}/buy/", {"quantity": "1", "idempotency_key": "h5-1"}
    )
    assert placed.status_code == 302 and "/pay/" in placed["Location"]
    again = shopper.post(
        f"/m/marketing/flash/{item.pk}/buy/", {"quantity": "1", "idempotency_key": "h5-2"}
    )
    assert again.status_code == 409


# --- API --------------------------------------------------------------------------------------------


def test_api_creates_lists_and_issues_coupons(api_client, operator):
    api = api_client(operator)
    created = api.post(
        "/api/v1/marketing/coupons",
        {
            "name": "API券",
            "kind": "percent",
            "percent_off": 15,
            "max_discount_fen": 3000,
            "valid_days": 7,
            "activate": True,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    coupon_id = created.json()["id"]
    c = customer()
    issued = api.post(
        f"/api/v1/marketing/coupons/{coupon_id}/issue",
        {"customer_ids": [c.pk]},
        content_type="application/json",
    )
    assert issued.json()["issued"] == 1
    listed = api.get("/api/v1/marketing/coupons").json()["items"]
    assert listed[0]["figures"]["claimed"] == 1
    bad = api.post(
        "/api/v1/marketing/coupons",
        {"name": "", "kind": "percent", "percent_off": 0},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert {"name", "percent_off"} <= set(bad.json()["error"]["fields"])


def test_api_refuses_an_analyst_creating_coupons(api_client, analyst):
    response = api_client(analyst).post(
        "/api/v1/marketing/coupons",
        {"name": "x", "kind": "fixed", "amount_fen": 100, "valid_days": 1},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_shopper_api_claims_and_buys_a_flash_sale_item(shopper_client):
    coupon = make_coupon()
    c = customer()
    shopper = shopper_client(c)
    shopper.cookies["csrftoken"] = "a" * 32
    headers = {"HTTP_X_CSRFTOKEN": "a" * 32}
    claimed = shopper.post(
        f"/api/v1/marketing/shop/coupons/{coupon.pk}/claim",
        {},
        content_type="application/json",
        **headers,
    )
    assert claimed.status_code == 200, claimed.content
    assert shopper.get("/api/v1/marketing/shop/coupons/mine").json()[0]["coupon_id"] == coupon.pk
    sale = make_sale(sku_of(product(price_fen=19900)), price_fen=9900, quota=1)
    item = sale.items.get()
    body = {"quantity": 1, "address": ADDRESS}
    first = shopper.post(
        f"/api/v1/marketing/shop/flash-sales/items/{item.pk}/orders",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="buy-1",
        **headers,
    )
    assert first.status_code == 201, first.content
    assert first.json()["channel"] == "flash_sale"
    replay = shopper.post(
        f"/api/v1/marketing/shop/flash-sales/items/{item.pk}/orders",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="buy-1",
        **headers,
    )
    assert replay.status_code == 200 and replay.json()["order_id"] == first.json()["order_id"]
    other = shopper_client(customer("乙"))
    other.cookies["csrftoken"] = "a" * 32
    gone = other.post(
        f"/api/v1/marketing/shop/flash-sales/items/{item.pk}/orders",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="buy-2",
        **headers,
    )
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "sale_sold_out"
    live = shopper.get("/api/v1/marketing/shop/flash-sales").json()
    assert live[0]["items"][0]["left"] == 0
