"""Catalogue API under /api/v1/catalog/.

Staff endpoints (token or console session): products with SKUs, images, shelf status, stock and
movements, categories, brands, suppliers and locations; costs only for roles with
`catalog.view_cost`. Shopper endpoints under `shop/` need no login: browsing the shelf.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.core.access import Actor, authorize
from siyu.core.api import ErrorBody, actor
from siyu.core.errors import NotFound
from siyu.core.pagination import keyset_page

from . import services, stock
from .models import (
    Brand,
    Category,
    Location,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
    StockMovement,
    Supplier,
)

router = Router(tags=["catalogue"])
shop = Router(tags=["catalogue (shopper)"], auth=None)

ERRORS = {400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody}


# --- schemas -----------------------------------------------------------------------------------


class ImageOut(Schema):
    id: int
    url: str
    alt: str


class StockOut(Schema):
    location_id: int
    location_name: str
    on_hand: int
    reserved: int
    available: int


class SkuOut(Schema):
    id: int
    code: str
    spec_values: dict
    spec_text: str
    barcode: str
    price_fen: int
    list_price_fen: int
    cost_fen: int | None
    weight_g: int
    fulfilment: str
    supplier_id: int | None
    is_active: bool
    stock: list[StockOut] = []


class ProductOut(Schema):
    id: int
    title: str
    subtitle: str
    description: str
    category_id: int
    category_name: str
    brand_id: int | None
    brand_name: str | None
    status: str
    spec_names: list[str]
    per_customer_limit: int | None
    usage_days: int | None
    is_featured: bool
    sort: int
    images: list[ImageOut]
    skus: list[SkuOut]
    created_at: datetime
    updated_at: datetime


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class SkuIn(Schema):
    id: int | None = None
    code: str
    spec_values: dict[str, str] = {}
    price_fen: int
    list_price_fen: int = 0
    cost_fen: int = 0
    weight_g: int = 0
    fulfilment: str = "stocked"
    supplier_id: int | None = None
    barcode: str = ""
    is_active: bool = True


class ProductIn(Schema):
    title: str
    category_id: int
    skus: list[SkuIn]
    subtitle: str = ""
    brand_id: int | None = None
    description: str = ""
    spec_names: list[str] = []
    per_customer_limit: int | None = None
    usage_days: int | None = None
    is_featured: bool = False
    sort: int = 0


class ShelfIn(Schema):
    status: str


class AdjustmentIn(Schema):
    sku_id: int
    location_id: int
    delta: int
    note: str


class MovementOut(Schema):
    id: int
    sku_id: int
    location_id: int
    reason: str
    on_hand_delta: int
    reserved_delta: int
    on_hand_after: int
    reserved_after: int
    order_id: int | None
    note: str
    actor_label: str
    created_at: datetime


class MovementPage(Schema):
    items: list[MovementOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None
    depth: int
    sort: int
    is_active: bool


class CategoryIn(Schema):
    name: str
    parent_id: int | None = None
    sort: int = 0
    is_active: bool = True


class BrandOut(Schema):
    id: int
    name: str
    story: str
    sort: int


class BrandIn(Schema):
    name: str
    story: str = ""
    sort: int = 0


class SupplierOut(Schema):
    id: int
    code: str
    name: str
    contact_name: str
    contact_phone: str
    email: str
    address: str
    notes: str
    is_active: bool


class SupplierIn(Schema):
    code: str
    name: str
    contact_name: str = ""
    contact_phone: str = ""
    email: str = ""
    address: str = ""
    notes: str = ""
    is_active: bool = True


class LocationOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    store_id: int | None
    ships_online: bool
    is_pickup: bool
    priority: int
    address: str
    is_active: bool


class LocationIn(Schema):
    code: str
    name: str
    kind: str
    store_id: int | None = None
    ships_online: bool = False
    is_pickup: bool = False
    priority: int = 0
    address: str = ""
    is_active: bool = True


# --- serialisation -----------------------------------------------------------------------------


def _product_qs():
    return Product.objects.select_related("category", "brand").prefetch_related(
        Prefetch("skus", queryset=Sku.objects.order_by("sort", "id")), "images"
    )


def product_out(p: Product, *, show_cost: bool, with_stock: bool = False) -> dict:
    table = services.stock_table(s.pk for s in p.skus.all()) if with_stock else {}
    return {
        "id": p.pk,
        "title": p.title,
        "subtitle": p.subtitle,
        "description": p.description,
        "category_id": p.category_id,
        "category_name": p.category.name,
        "brand_id": p.brand_id,
        "brand_name": p.brand.name if p.brand else None,
        "status": p.status,
        "spec_names": list(p.spec_names or []),
        "per_customer_limit": p.per_customer_limit,
        "usage_days": p.usage_days,
        "is_featured": p.is_featured,
        "sort": p.sort,
        "images": [{"id": i.pk, "url": i.file.url, "alt": i.alt} for i in p.images.all()],
        "skus": [
            {
                "id": s.pk,
                "code": s.code,
                "spec_values": s.spec_values or {},
                "spec_text": s.spec_text,
                "barcode": s.barcode,
                "price_fen": s.price_fen,
                "list_price_fen": s.list_price_fen,
                "cost_fen": s.cost_fen if show_cost else None,
                "weight_g": s.weight_g,
                "fulfilment": s.fulfilment,
                "supplier_id": s.supplier_id,
                "is_active": s.is_active,
                "stock": [
                    {
                        "location_id": row.location_id,
                        "location_name": row.location.name,
                        "on_hand": row.on_hand,
                        "reserved": row.reserved,
                        "available": row.available,
                    }
                    for row in table.get(s.pk, [])
                ],
            }
            for s in p.skus.all()
        ],
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def _product_input(payload: ProductIn) -> services.ProductInput:
    data = payload.dict()
    data["skus"] = [services.SkuInput(**s) for s in data["skus"]]
    return services.ProductInput(**data)


def _page_out(page, items) -> dict:
    return {
        "items": items,
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


# --- staff: products ------------------------------------------------------------------------------


@router.get("/products", response={200: ProductPage, **ERRORS}, summary="Products, newest first")
def list_products(
    request,
    q: str = "",
    category_id: int | None = None,
    brand_id: int | None = None,
    status: str = "",
    fulfilment: str = "",
    supplier_id: int | None = None,
    after: int | None = None,
    size: int = 50,
):
    who = actor(request)
    qs = services.filter_products(
        services.products_for_staff(who),
        q=q,
        category_id=category_id,
        brand_id=brand_id,
        status=status,
        fulfilment=fulfilment,
        supplier_id=supplier_id,
    )
    page = keyset_page(_product_qs().filter(pk__in=qs.values("pk")), after=after, size=size)
    show = who.can("catalog.view_cost")
    return _page_out(page, [product_out(p, show_cost=show) for p in page.items])


@router.post("/products", response={201: ProductOut, **ERRORS}, summary="Create a draft product")
def create_product(request, payload: ProductIn):
    who = actor(request)
    product = services.create_product(_product_input(payload), actor=who)
    return Status(
        201, product_out(_product_qs().get(pk=product.pk), show_cost=True, with_stock=True)
    )


def _get_product(who: Actor, product_id: int) -> Product:
    authorize(who, "catalog.view")
    product = _product_qs().filter(pk=product_id).first()
    if product is None:
        raise NotFound()
    return product


@router.get("/products/{product_id}", response={200: ProductOut, **ERRORS})
def get_product(request, product_id: int):
    who = actor(request)
    return product_out(
        _get_product(who, product_id), show_cost=who.can("catalog.view_cost"), with_stock=True
    )


@router.put("/products/{product_id}", response={200: ProductOut, **ERRORS})
def update_product(request, product_id: int, payload: ProductIn):
    """Replace the product and its SKU list (SKUs matched by id; SKUs left out go off sale)."""
    who = actor(request)
    services.update_product(product_id, _product_input(payload), actor=who)
    return product_out(_get_product(who, product_id), show_cost=True, with_stock=True)


@router.post("/products/{product_id}/shelf", response={200: ProductOut, **ERRORS})
def set_shelf(request, product_id: int, payload: ShelfIn):
    """Put on shelf (`on_shelf`), take off (`off_shelf`) or back to `draft`."""
    who = actor(request)
    services.set_shelf_status(product_id, payload.status, actor=who)
    return product_out(_get_product(who, product_id), show_cost=who.can("catalog.view_cost"))


@router.post("/products/{product_id}/images", response={201: ImageOut, **ERRORS})
def upload_image(request, product_id: int, image: File[UploadedFile], alt: str = ""):
    image_row = services.add_image(product_id, image, actor=actor(request), alt=alt)
    return Status(201, {"id": image_row.pk, "url": image_row.file.url, "alt": image_row.alt})


@router.delete("/images/{image_id}", response={204: None, **ERRORS})
def delete_image(request, image_id: int):
    services.delete_image(image_id, actor=actor(request))
    return Status(204, None)


# --- staff: stock ---------------------------------------------------------------------------------


@router.post("/stock/adjustments", response={201: MovementOut, **ERRORS})
def adjust_stock(request, payload: AdjustmentIn):
    """Change on-hand stock at a location, with the reason (counted, received, broken...)."""
    movement = stock.adjust(
        payload.sku_id, payload.location_id, payload.delta, actor=actor(request), note=payload.note
    )
    return Status(201, movement)


@router.get("/stock/movements", response={200: MovementPage, **ERRORS})
def list_movements(
    request,
    sku_id: int | None = None,
    location_id: int | None = None,
    reason: str = "",
    order_id: int | None = None,
    after: int | None = None,
    size: int = 50,
):
    authorize(actor(request), "catalog.view")
    qs = StockMovement.objects.all()
    if sku_id:
        qs = qs.filter(sku_id=sku_id)
    if location_id:
        qs = qs.filter(location_id=location_id)
    if reason:
        qs = qs.filter(reason=reason)
    if order_id:
        qs = qs.filter(order_id=order_id)
    page = keyset_page(qs, after=after, size=size)
    return _page_out(page, page.items)


# --- staff: categories, brands, suppliers, locations ---------------------------------------------


@router.get("/categories", response={200: list[CategoryOut], **ERRORS})
def list_categories(request):
    authorize(actor(request), "catalog.view")
    return [
        {
            "id": c.pk,
            "name": c.name,
            "parent_id": c.parent_id,
            "depth": d,
            "sort": c.sort,
            "is_active": c.is_active,
        }
        for c, d in services.category_tree()
    ]


@router.post("/categories", response={201: CategoryOut, **ERRORS})
def create_category(request, payload: CategoryIn):
    c = services.save_category(actor=actor(request), **payload.dict())
    return Status(201, {**_category(c), "depth": services.category_depth(c) - 1})


@router.put("/categories/{category_id}", response={200: CategoryOut, **ERRORS})
def update_category(request, category_id: int, payload: CategoryIn):
    c = services.save_category(actor=actor(request), category_id=category_id, **payload.dict())
    return {**_category(c), "depth": services.category_depth(c) - 1}


def _category(c: Category) -> dict:
    return {
        "id": c.pk,
        "name": c.name,
        "parent_id": c.parent_id,
        "sort": c.sort,
        "is_active": c.is_active,
    }


@router.get("/brands", response={200: list[BrandOut], **ERRORS})
def list_brands(request):
    authorize(actor(request), "catalog.view")
    return list(Brand.objects.all())


@router.post("/brands", response={201: BrandOut, **ERRORS})
def create_brand(request, payload: BrandIn):
    return Status(201, services.save_brand(actor=actor(request), **payload.dict()))


@router.get("/suppliers", response={200: list[SupplierOut], **ERRORS})
def list_suppliers(request):
    authorize(actor(request), "catalog.suppliers")
    return list(Supplier.objects.all())


@router.post("/suppliers", response={201: SupplierOut, **ERRORS})
def create_supplier(request, payload: SupplierIn):
    return Status(201, services.save_supplier(actor=actor(request), **payload.dict()))


@router.put("/suppliers/{supplier_id}", response={200: SupplierOut, **ERRORS})
def update_supplier(request, supplier_id: int, payload: SupplierIn):
    return services.save_supplier(actor=actor(request), supplier_id=supplier_id, **payload.dict())


@router.get("/locations", response={200: list[LocationOut], **ERRORS})
def list_locations(request):
    authorize(actor(request), "catalog.view")
    return list(Location.objects.all())


@router.post("/locations", response={201: LocationOut, **ERRORS})
def create_location(request, payload: LocationIn):
    return Status(201, services.save_location(actor=actor(request), **payload.dict()))


@router.put("/locations/{location_id}", response={200: LocationOut, **ERRORS})
def update_location(request, location_id: int, payload: LocationIn):
    return services.save_location(actor=actor(request), location_id=location_id, **payload.dict())


# --- shoppers: browsing ---------------------------------------------------------------------------


class ShopSkuOut(Schema):
    id: int
    code: str
    spec_values: dict
    spec_text: str
    price_fen: int
    list_price_fen: int
    # in_stock / low / sold_out; "low" means fewer than 10 left
    stock_state: str
    available: int | None


class ShopProductOut(Schema):
    id: int
    title: str
    subtitle: str
    brand_name: str | None
    category_id: int
    image: str
    price_fen: int
    list_price_fen: int
    sold_out: bool


class ShopProductDetail(ShopProductOut):
    description: str
    spec_names: list[str]
    per_customer_limit: int | None
    images: list[ImageOut]
    skus: list[ShopSkuOut]


class ShopProductPage(Schema):
    items: list[ShopProductOut]
    next_cursor: int | None


class ShopCategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None
    depth: int


class PickupStoreOut(Schema):
    store_id: int
    name: str
    address: str


LOW_STOCK = 10


def stock_state(available: int | None) -> str:
    if available is None:
        return "in_stock"  # drop-shipped: the supplier holds it
    if available <= 0:
        return "sold_out"
    return "low" if available < LOW_STOCK else "in_stock"


def shop_cards(products: list[Product]) -> list[dict]:
    """Listing cards with the lowest price on sale and a sold-out flag, in two queries."""
    sku_ids = [s.pk for p in products for s in p.skus.all() if s.is_active]
    available = stock.available_by_sku(sku_ids)
    cards = []
    for p in products:
        on_sale = [s for s in p.skus.all() if s.is_active]
        if not on_sale:
            continue
        cheapest = min(on_sale, key=lambda s: s.price_fen)
        images = list(p.images.all())
        cards.append(
            {
                "id": p.pk,
                "title": p.title,
                "subtitle": p.subtitle,
                "brand_name": p.brand.name if p.brand else None,
                "category_id": p.category_id,
                "image": images[0].file.url if images else "",
                "price_fen": cheapest.price_fen,
                "list_price_fen": cheapest.list_price_fen,
                "sold_out": all(
                    not s.is_drop_ship and available.get(s.pk, 0) <= 0 for s in on_sale
                ),
            }
        )
    return cards


@shop.get("/categories", response=list[ShopCategoryOut], summary="Active categories as a tree")
def shop_categories(request):
    return [
        {"id": c.pk, "name": c.name, "parent_id": c.parent_id, "depth": d}
        for c, d in services.category_tree(active_only=True)
    ]


@shop.get("/products", response=ShopProductPage, summary="Products on the shelf")
def shop_list(
    request,
    q: str = "",
    category_id: int | None = None,
    brand_id: int | None = None,
    featured: bool = False,
    after: int | None = None,
    size: int = 20,
):
    qs = services.shop_products(
        q=q, category_id=category_id, brand_id=brand_id, featured=featured or None
    )
    page = keyset_page(
        Product.objects.filter(pk__in=qs.values("pk"))
        .select_related("brand")
        .prefetch_related("skus", "images"),
        after=after,
        size=min(size, 50),
    )
    return {"items": shop_cards(page.items), "next_cursor": page.next_cursor}


@shop.get("/products/{product_id}", response={200: ShopProductDetail, 404: ErrorBody})
def shop_detail(request, product_id: int, store_id: int | None = None):
    """One product with its SKUs, prices and stock state (at `store_id` for pickup)."""
    product = (
        Product.objects.filter(pk=product_id, status=ProductStatus.ON_SHELF)
        .select_related("brand")
        .prefetch_related(
            Prefetch("skus", queryset=Sku.objects.filter(is_active=True).order_by("sort", "id")),
            Prefetch("images", queryset=ProductImage.objects.order_by("sort", "id")),
        )
        .first()
    )
    if product is None or not product.skus.all():
        raise NotFound()
    card = shop_cards([product])[0]
    skus = list(product.skus.all())
    available = stock.available_by_sku([s.pk for s in skus], pickup_store_id=store_id)
    return {
        **card,
        "description": product.description,
        "spec_names": list(product.spec_names or []),
        "per_customer_limit": product.per_customer_limit,
        "images": [{"id": i.pk, "url": i.file.url, "alt": i.alt} for i in product.images.all()],
        "skus": [
            {
                "id": s.pk,
                "code": s.code,
                "spec_values": s.spec_values or {},
                "spec_text": s.spec_text,
                "price_fen": s.price_fen,
                "list_price_fen": s.list_price_fen,
                "available": None if s.is_drop_ship else available.get(s.pk, 0),
                "stock_state": stock_state(None if s.is_drop_ship else available.get(s.pk, 0)),
            }
            for s in skus
        ],
    }


@shop.get("/pickup-stores", response=list[PickupStoreOut], summary="Stores shoppers can pick up at")
def pickup_stores(request):
    rows = Location.objects.filter(is_pickup=True, is_active=True, store__is_active=True)
    return [
        {
            "store_id": loc.store_id,
            "name": loc.store.name,
            "address": loc.address or loc.store.address,
        }
        for loc in rows.select_related("store")
    ]


router.add_router("/shop", shop)
