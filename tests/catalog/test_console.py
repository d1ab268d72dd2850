"""The catalogue console: product editor with SKUs, images and stock; suppliers; locations."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from siyu.catalog.models import Location, Product, Sku, StockLevel, Supplier
from tests import commerce


def sku_rows(*rows, total=None):
    data = {
        "sku-TOTAL_FORMS": str(total or len(rows)),
        "sku-INITIAL_FORMS": "0",
        "sku-MIN_NUM_FORMS": "0",
        "sku-MAX_NUM_FORMS": "60",
    }
    for i, row in enumerate(rows):
        for k, v in row.items():
            data[f"sku-{i}-{k}"] = v
    return data


@pytest.mark.django_db
def test_operator_creates_a_product_with_skus_in_yuan(console_client, operator):
    cat = commerce.category("面霜")
    client = console_client(operator)
    assert client.get(reverse("catalog:product_new")).status_code == 200
    data = {
        "title": "山茶花面霜",
        "category": cat.pk,
        "spec_names": "规格, 款式",
        **sku_rows(
            {
                "code": "CAM-C-50",
                "specs": "50ml / 经典",
                "price": "329",
                "list_price": "399",
                "cost": "88.5",
                "weight_g": "180",
                "fulfilment": "stocked",
                "is_active": "on",
            },
            {"code": "", "specs": "", "price": ""},
        ),
    }
    response = client.post(reverse("catalog:product_new"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    sku = Sku.objects.get(code="CAM-C-50")
    assert (sku.price_fen, sku.list_price_fen, sku.cost_fen, sku.spec_values) == (
        32900,
        39900,
        8850,
        {"规格": "50ml", "款式": "经典"},
    )
    assert Product.objects.get().spec_names == ["规格", "款式"]


@pytest.mark.django_db
def test_product_errors_show_on_the_form(console_client, operator):
    cat = commerce.category()
    response = console_client(operator).post(
        reverse("catalog:product_new"),
        {
            "title": "x",
            "category": cat.pk,
            "spec_names": "规格",
            **sku_rows({"code": "A", "specs": "", "price": "abc", "fulfilment": "drop_ship"}),
        },
    )
    assert response.status_code == 200
    assert "field-error" in response.content.decode()
    assert not Product.objects.exists()


@pytest.mark.django_db
def test_product_page_uploads_images_adjusts_stock_and_shelves(
    console_client, operator, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    p = commerce.product(stock=5)
    sku = commerce.sku_of(p)
    client = console_client(operator)
    page = client.get(reverse("catalog:product", args=[p.pk])).content.decode()
    assert sku.code in page and 'data-testid="stock-table"' in page
    client.post(
        reverse("catalog:image_upload", args=[p.pk]),
        {"image": SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 40)},
    )
    assert p.images.count() == 1
    client.post(
        reverse("catalog:stock_adjust"),
        {
            "sku": sku.pk,
            "location": commerce.warehouse().pk,
            "delta": "-2",
            "note": "破损",
            "next": f"/console/catalog/products/{p.pk}/",
        },
    )
    assert StockLevel.objects.get(sku=sku).on_hand == 3
    client.post(reverse("catalog:product_shelf", args=[p.pk]), {"status": "off_shelf"})
    p.refresh_from_db()
    assert p.status == "off_shelf"
    stock_page = client.get(reverse("catalog:stock")).content.decode()
    assert "破损" in stock_page


@pytest.mark.django_db
def test_suppliers_locations_and_categories_pages(console_client, operator, store):
    client = console_client(operator)
    client.post(
        reverse("catalog:suppliers"),
        {"code": "HZ-OEM", "name": "杭州美妆代工厂", "is_active": "on"},
    )
    assert Supplier.objects.get().name == "杭州美妆代工厂"
    client.post(
        reverse("catalog:locations"),
        {
            "code": "S-1",
            "name": "上海一店自提点",
            "kind": "store",
            "store": store.pk,
            "is_pickup": "on",
            "priority": "10",
            "is_active": "on",
        },
    )
    assert Location.objects.get().store_id == store.pk
    client.post(
        reverse("catalog:categories"), {"cat-name": "护肤", "cat-sort": "0", "cat-is_active": "on"}
    )
    client.post(reverse("catalog:categories"), {"brand-name": "山茶花实验室", "brand-sort": "0"})
    page = client.get(reverse("catalog:categories")).content.decode()
    assert "护肤" in page and "山茶花实验室" in page


@pytest.mark.django_db
def test_clerks_browse_products_but_cannot_edit(console_client, clerk):
    p = commerce.product()
    client = console_client(clerk)
    assert client.get(reverse("catalog:products")).status_code == 200
    assert client.get(reverse("catalog:product_new")).status_code == 403
    assert (
        client.post(
            reverse("catalog:product_shelf", args=[p.pk]), {"status": "off_shelf"}
        ).status_code
        == 403
    )
    assert client.get(reverse("catalog:suppliers")).status_code == 403
