"""The catalogue API: staff manage products and stock; anyone browses the shelf."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from siyu.catalog.models import ProductStatus, StockLevel
from tests import commerce

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def send(client, method, url, body):
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


def product_body(**extra):
    body = {
        "title": "山茶花保湿精华",
        "category_id": commerce.category().pk,
        "spec_names": ["规格"],
        "skus": [
            {
                "code": "CAM-30",
                "spec_values": {"规格": "30ml"},
                "price_fen": 19900,
                "cost_fen": 5200,
            },
            {
                "code": "CAM-50",
                "spec_values": {"规格": "50ml"},
                "price_fen": 29900,
                "cost_fen": 7800,
            },
        ],
    }
    body.update(extra)
    return body


@pytest.mark.django_db
def test_operator_creates_edits_and_shelves_a_product(api_client, operator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_client(operator)
    created = send(client, "post", "/api/v1/catalog/products", product_body())
    assert created.status_code == 201, created.json()
    product = created.json()
    assert product["status"] == "draft" and [s["cost_fen"] for s in product["skus"]] == [5200, 7800]
    skus = product["skus"]
    body = product_body(skus=[{**skus[0], "price_fen": 18900}])
    updated = send(client, "put", f"/api/v1/catalog/products/{product['id']}", body).json()
    assert [(s["code"], s["price_fen"], s["is_active"]) for s in updated["skus"]] == [
        ("CAM-30", 18900, True),
        ("CAM-50", 29900, False),
    ]
    shelf = send(
        client, "post", f"/api/v1/catalog/products/{product['id']}/shelf", {"status": "on_shelf"}
    )
    assert shelf.json()["status"] == ProductStatus.ON_SHELF
    image = client.post(
        f"/api/v1/catalog/products/{product['id']}/images",
        {"image": SimpleUploadedFile("a.png", PNG)},
    )
    assert image.status_code == 201 and image.json()["url"].startswith("/media/catalog/products/")
    bad = send(client, "post", "/api/v1/catalog/products", product_body(skus=[]))
    assert bad.status_code == 422 and "skus" in bad.json()["error"]["fields"]


@pytest.mark.django_db
def test_costs_are_hidden_from_clerks(api_client, clerk):
    commerce.product()
    items = api_client(clerk).get("/api/v1/catalog/products").json()["items"]
    assert items[0]["skus"][0]["cost_fen"] is None


@pytest.mark.django_db
def test_stock_adjustment_and_movement_log(api_client, operator):
    sku = commerce.sku_of(commerce.product(stock=5))
    wh = commerce.warehouse()
    client = api_client(operator)
    made = send(
        client,
        "post",
        "/api/v1/catalog/stock/adjustments",
        {"sku_id": sku.pk, "location_id": wh.pk, "delta": 20, "note": "到货入库"},
    )
    assert made.status_code == 201 and made.json()["on_hand_after"] == 25
    refused = send(
        client,
        "post",
        "/api/v1/catalog/stock/adjustments",
        {"sku_id": sku.pk, "location_id": wh.pk, "delta": -30, "note": "盘亏"},
    )
    assert refused.status_code == 409  # the CHECK would be violated: refused before writing
    assert StockLevel.objects.get(sku=sku).on_hand == 25
    log = client.get(f"/api/v1/catalog/stock/movements?sku_id={sku.pk}").json()["items"]
    assert [(m["reason"], m["on_hand_delta"], m["note"]) for m in log] == [
        ("adjustment", 20, "到货入库")
    ]
    detail = client.get(f"/api/v1/catalog/products/{sku.product_id}").json()
    assert detail["skus"][0]["stock"][0]["available"] == 25


@pytest.mark.django_db
def test_anyone_browses_the_shelf_with_stock_states(client, store):
    on = commerce.product("上架精华", skus=2, stock=3)
    commerce.product("草稿面霜").__class__.objects.filter(title="草稿面霜").update(status="draft")
    a, b = commerce.sku_of(on, 0), commerce.sku_of(on, 1)
    StockLevel.objects.filter(sku=b).update(on_hand=0)
    commerce.store_location(store)
    listing = client.get("/api/v1/catalog/shop/products").json()["items"]
    assert [(p["title"], p["price_fen"], p["sold_out"]) for p in listing] == [
        ("上架精华", 19900, False)
    ]
    detail = client.get(f"/api/v1/catalog/shop/products/{on.pk}").json()
    assert [(s["code"], s["stock_state"]) for s in detail["skus"]] == [
        (a.code, "low"),
        (b.code, "sold_out"),
    ]
    assert "cost_fen" not in detail["skus"][0]
    assert client.get("/api/v1/catalog/shop/pickup-stores").json()[0]["store_id"] == store.pk
    assert client.get("/api/v1/catalog/shop/categories").json()[0]["name"] == "精华"
    assert client.get("/api/v1/catalog/products").status_code == 401  # staff endpoints need a login
