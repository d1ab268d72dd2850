"""Products with SKUs, shelf status, images, categories, suppliers and locations."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from siyu.catalog import services
from siyu.catalog.models import Product, ProductStatus, Sku
from siyu.catalog.services import ProductInput, SkuInput
from siyu.core.access import Actor
from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from tests import commerce

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def spu(**extra):
    data = dict(
        title="小棕瓶精华",
        category_id=commerce.category().pk,
        spec_names=["规格"],
        skus=[
            SkuInput(code="ANR-30", price_fen=59000, cost_fen=15000, spec_values={"规格": "30ml"}),
            SkuInput(code="ANR-50", price_fen=89000, cost_fen=22000, spec_values={"规格": "50ml"}),
        ],
    )
    data.update(extra)
    return ProductInput(**data)


@pytest.mark.django_db
def test_operator_creates_a_draft_product_with_skus_and_puts_it_on_shelf(operator):
    actor = Actor.for_user(operator)
    product = services.create_product(spu(), actor=actor)
    assert product.status == ProductStatus.DRAFT
    assert [(s.code, s.spec_text, s.margin_fen) for s in product.skus.all()] == [
        ("ANR-30", "30ml", 44000),
        ("ANR-50", "50ml", 67000),
    ]
    services.set_shelf_status(product.pk, ProductStatus.ON_SHELF, actor=actor)
    product.refresh_from_db()
    assert product.is_on_shelf and product.on_shelf_at is not None


@pytest.mark.django_db
def test_sku_specs_must_match_the_products_spec_names(operator):
    data = spu(
        skus=[
            SkuInput(code="A", price_fen=100, spec_values={"规格": "30ml"}),
            SkuInput(code="B", price_fen=100, spec_values={"规格": "30ml"}),
            SkuInput(code="C", price_fen=100, spec_values={"颜色": "红"}),
        ]
    )
    with pytest.raises(ValidationFailed) as err:
        services.create_product(data, actor=Actor.for_user(operator))
    assert set(err.value.fields) == {"skus.1.spec_values", "skus.2.spec_values"}


@pytest.mark.django_db
def test_drop_ship_sku_needs_a_supplier_and_list_price_is_not_below_price(operator):
    data = spu(
        skus=[
            SkuInput(code="A", price_fen=100, spec_values={"规格": "1"}, fulfilment="drop_ship"),
            SkuInput(code="B", price_fen=100, list_price_fen=50, spec_values={"规格": "2"}),
        ]
    )
    with pytest.raises(ValidationFailed) as err:
        services.create_product(data, actor=Actor.for_user(operator))
    assert set(err.value.fields) == {"skus.0.supplier_id", "skus.1.list_price_fen"}


@pytest.mark.django_db
def test_sku_codes_are_unique_across_products(operator):
    actor = Actor.for_user(operator)
    services.create_product(spu(), actor=actor)
    with pytest.raises(ValidationFailed) as err:
        services.create_product(spu(title="另一个"), actor=actor)
    assert "skus.0.code" in err.value.fields


@pytest.mark.django_db
def test_editing_keeps_sku_ids_and_takes_removed_skus_off_sale(operator):
    actor = Actor.for_user(operator)
    product = services.create_product(spu(), actor=actor)
    small, large = product.skus.all()
    services.update_product(
        product.pk,
        spu(
            skus=[
                SkuInput(
                    id=small.pk,
                    code="ANR-30",
                    price_fen=55000,
                    cost_fen=15000,
                    spec_values={"规格": "30ml"},
                ),
            ]
        ),
        actor=actor,
    )
    small.refresh_from_db()
    large.refresh_from_db()
    assert (small.price_fen, small.is_active, large.is_active) == (55000, True, False)


@pytest.mark.django_db
def test_only_operators_edit_the_catalogue(clerk):
    with pytest.raises(PermissionDenied):
        services.create_product(spu(), actor=Actor.for_user(clerk))


@pytest.mark.django_db
def test_product_without_a_sku_on_sale_stays_off_shelf(operator):
    actor = Actor.for_user(operator)
    product = services.create_product(spu(), actor=actor)
    Sku.objects.filter(product=product).update(is_active=False)
    with pytest.raises(Conflict):
        services.set_shelf_status(product.pk, ProductStatus.ON_SHELF, actor=actor)


@pytest.mark.django_db
def test_images_are_checked_by_content_and_stored_under_media(operator, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    actor = Actor.for_user(operator)
    product = services.create_product(spu(), actor=actor)
    image = services.add_image(product.pk, SimpleUploadedFile("x.exe.png", PNG), actor=actor)
    assert image.file.name.endswith(".png") and "x.exe" not in image.file.name
    assert (tmp_path / image.file.name).exists()
    with pytest.raises(ValidationFailed):
        services.add_image(
            product.pk, SimpleUploadedFile("evil.png", b"<svg onload=alert(1)>"), actor=actor
        )


@pytest.mark.django_db
def test_categories_nest_at_most_three_levels_and_never_under_themselves(operator):
    actor = Actor.for_user(operator)
    top = services.save_category(actor=actor, name="护肤")
    mid = services.save_category(actor=actor, name="面部护理", parent_id=top.pk)
    leaf = services.save_category(actor=actor, name="精华", parent_id=mid.pk)
    with pytest.raises(ValidationFailed):
        services.save_category(actor=actor, name="太深", parent_id=leaf.pk)
    with pytest.raises(ValidationFailed):
        services.save_category(actor=actor, name="护肤", parent_id=mid.pk, category_id=top.pk)
    assert [(c.name, d) for c, d in services.category_tree()] == [
        ("护肤", 0),
        ("面部护理", 1),
        ("精华", 2),
    ]
    assert set(services.descendant_ids(top.pk)) == {top.pk, mid.pk, leaf.pk}


@pytest.mark.django_db
def test_shop_listing_shows_only_products_on_shelf_with_a_sku_on_sale():
    on = commerce.product("上架")
    off = commerce.product("下架")
    Product.objects.filter(pk=off.pk).update(status=ProductStatus.OFF_SHELF)
    dead = commerce.product("无货号")
    Sku.objects.filter(product=dead).update(is_active=False)
    assert [p.title for p in services.shop_products()] == [on.title]
    assert [p.title for p in services.shop_products(q="上")] == [on.title]


@pytest.mark.django_db
def test_store_location_needs_its_store_and_warehouses_are_never_pickup_points(operator, store):
    actor = Actor.for_user(operator)
    with pytest.raises(ValidationFailed):
        services.save_location(actor=actor, code="S1", name="店", kind="store")
    wh = services.save_location(
        actor=actor, code="W1", name="仓", kind="warehouse", is_pickup=True, ships_online=True
    )
    assert wh.is_pickup is False
    shop = services.save_location(
        actor=actor, code="S1", name="店", kind="store", store_id=store.pk, is_pickup=True
    )
    assert shop.store_id == store.pk
