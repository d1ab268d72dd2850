"""Catalogue rules: products with their SKUs, images, shelf status, categories, brands, suppliers
and stock locations. Stock movements live in `catalog.stock`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed

from .models import (
    Brand,
    Category,
    Fulfilment,
    Location,
    LocationKind,
    Product,
    ProductImage,
    ProductStatus,
    Sku,
    StockLevel,
    Supplier,
)

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGES = 12
_IMAGE_SIGNATURES = {
    b"\xff\xd8\xff": ".jpg",
    b"\x89PNG\r\n\x1a\n": ".png",
    b"GIF87a": ".gif",
    b"GIF89a": ".gif",
}


# --- products and SKUs ------------------------------------------------------------------------


@dataclass
class SkuInput:
    code: str
    price_fen: int
    spec_values: dict[str, str] = field(default_factory=dict)
    list_price_fen: int = 0
    cost_fen: int = 0
    weight_g: int = 0
    fulfilment: str = Fulfilment.STOCKED
    supplier_id: int | None = None
    barcode: str = ""
    is_active: bool = True
    id: int | None = None


@dataclass
class ProductInput:
    title: str
    category_id: int
    skus: list[SkuInput]
    subtitle: str = ""
    brand_id: int | None = None
    description: str = ""
    spec_names: list[str] = field(default_factory=list)
    per_customer_limit: int | None = None
    usage_days: int | None = None
    is_featured: bool = False
    sort: int = 0


def _clean_product(data: ProductInput) -> None:
    errors: dict[str, str] = {}
    data.title = (data.title or "").strip()
    if not data.title:
        errors["title"] = _("This field is required.")
    if not Category.objects.filter(pk=data.category_id).exists():
        errors["category_id"] = _("Choose a category.")
    if data.brand_id is not None and not Brand.objects.filter(pk=data.brand_id).exists():
        errors["brand_id"] = _("Unknown brand.")
    if data.per_customer_limit is not None and data.per_customer_limit < 1:
        errors["per_customer_limit"] = _("Leave empty for no limit, or enter at least 1.")
    names = [n.strip() for n in data.spec_names if n and n.strip()]
    if len(set(names)) != len(names):
        errors["spec_names"] = _("Spec names must be different.")
    data.spec_names = names
    if not data.skus:
        errors["skus"] = _("A product needs at least one SKU.")
    seen_specs: set[tuple] = set()
    seen_codes: set[str] = set()
    for i, sku in enumerate(data.skus):
        prefix = f"skus.{i}."
        sku.code = (sku.code or "").strip()
        if not sku.code:
            errors[prefix + "code"] = _("This field is required.")
        elif sku.code in seen_codes:
            errors[prefix + "code"] = _("Two SKUs have the same code.")
        seen_codes.add(sku.code)
        values = {k.strip(): str(v).strip() for k, v in (sku.spec_values or {}).items() if k}
        unknown = set(values) - set(names)
        if unknown:
            errors[prefix + "spec_values"] = _("Unknown spec: %(names)s") % {
                "names": ", ".join(sorted(unknown))
            }
        missing = [n for n in names if not values.get(n)]
        if missing:
            errors[prefix + "spec_values"] = _("Missing value for %(names)s") % {
                "names": ", ".join(missing)
            }
        combo = tuple(values.get(n, "") for n in names)
        if names and combo in seen_specs:
            errors[prefix + "spec_values"] = _("Two SKUs have the same specs.")
        seen_specs.add(combo)
        sku.spec_values = values
        if sku.price_fen is None or sku.price_fen < 0:
            errors[prefix + "price_fen"] = _("Enter a price of zero or more.")
        if sku.cost_fen < 0:
            errors[prefix + "cost_fen"] = _("Enter a cost of zero or more.")
        if sku.list_price_fen and sku.list_price_fen < (sku.price_fen or 0):
            errors[prefix + "list_price_fen"] = _("The list price cannot be below the price.")
        if sku.weight_g < 0:
            errors[prefix + "weight_g"] = _("Enter a weight of zero or more.")
        if sku.fulfilment not in Fulfilment.values:
            errors[prefix + "fulfilment"] = _("Unknown fulfilment.")
        elif sku.fulfilment == Fulfilment.DROP_SHIP:
            if not sku.supplier_id or not Supplier.objects.filter(pk=sku.supplier_id).exists():
                errors[prefix + "supplier_id"] = _("A drop-shipped SKU needs its supplier.")
        else:
            sku.supplier_id = None
    if errors:
        raise ValidationFailed(fields=errors)


def _product_fields(data: ProductInput) -> dict:
    return {
        "title": data.title,
        "subtitle": data.subtitle.strip(),
        "category_id": data.category_id,
        "brand_id": data.brand_id,
        "description": data.description,
        "spec_names": data.spec_names,
        "per_customer_limit": data.per_customer_limit,
        "usage_days": data.usage_days,
        "is_featured": data.is_featured,
        "sort": data.sort,
    }


def _sku_fields(sku: SkuInput, sort: int) -> dict:
    return {
        "code": sku.code,
        "spec_values": sku.spec_values,
        "barcode": sku.barcode.strip(),
        "price_fen": sku.price_fen,
        "list_price_fen": sku.list_price_fen or 0,
        "cost_fen": sku.cost_fen,
        "weight_g": sku.weight_g,
        "fulfilment": sku.fulfilment,
        "supplier_id": sku.supplier_id,
        "is_active": sku.is_active,
        "sort": sort,
    }


def create_product(data: ProductInput, *, actor: Actor) -> Product:
    """A new product (as a draft) with its SKUs."""
    authorize(actor, "catalog.edit")
    _clean_product(data)
    try:
        with transaction.atomic():
            product = Product.objects.create(**_product_fields(data))
            Sku.objects.bulk_create(
                [Sku(product=product, **_sku_fields(s, i)) for i, s in enumerate(data.skus)]
            )
            audit.record(actor, "catalog.product_created", obj=product, summary=product.title)
    except IntegrityError:
        raise _duplicate_code(data.skus)
    return product


def update_product(product_id: int, data: ProductInput, *, actor: Actor) -> Product:
    """Change a product and its SKUs. SKUs are matched by id; SKUs left out are taken off sale,
    never deleted, because orders refer to them."""
    authorize(actor, "catalog.edit")
    _clean_product(data)
    try:
        with transaction.atomic():
            product = Product.objects.select_for_update().filter(pk=product_id).first()
            if product is None:
                raise NotFound(_("Not found."))
            existing = {s.pk: s for s in product.skus.all()}
            before = {s.pk: (s.price_fen, s.cost_fen) for s in existing.values()}
            for name, value in _product_fields(data).items():
                setattr(product, name, value)
            product.save()
            kept = set()
            for i, item in enumerate(data.skus):
                if item.id is not None and item.id in existing:
                    sku = existing[item.id]
                    for name, value in _sku_fields(item, i).items():
                        setattr(sku, name, value)
                    sku.save()
                    kept.add(sku.pk)
                else:
                    Sku.objects.create(product=product, **_sku_fields(item, i))
            Sku.objects.filter(product=product).exclude(pk__in=kept).filter(
                pk__in=existing.keys()
            ).update(is_active=False, updated_at=timezone.now())
            changes = {
                sku.code: {"price": [before[sku.pk][0], sku.price_fen]}
                for sku in existing.values()
                if sku.pk in kept and before[sku.pk][0] != sku.price_fen
            }
            audit.record(
                actor,
                "catalog.product_updated",
                obj=product,
                summary=product.title,
                data={"price_changes": changes} if changes else {},
            )
    except IntegrityError:
        raise _duplicate_code(data.skus)
    return product


def _duplicate_code(skus: Sequence[SkuInput]) -> ValidationFailed:
    codes = [s.code for s in skus]
    taken = set(Sku.objects.filter(code__in=codes).values_list("code", flat=True))
    fields = {
        f"skus.{i}.code": _("This SKU code is already used by another product.")
        for i, s in enumerate(skus)
        if s.code in taken
    }
    return ValidationFailed(
        _("An SKU code is already used by another product."), fields=fields or {"skus": "code"}
    )


def set_shelf_status(product_id: int, status: str, *, actor: Actor) -> Product:
    """Put a product on or off the shelf. On shelf needs at least one SKU on sale."""
    authorize(actor, "catalog.edit")
    if status not in ProductStatus.values:
        raise ValidationFailed(fields={"status": _("Unknown status.")})
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFound(_("Not found."))
        if status == ProductStatus.ON_SHELF:
            if not product.skus.filter(is_active=True).exists():
                raise Conflict(_("Put at least one SKU on sale first."), code="no_sku_on_sale")
            if product.on_shelf_at is None or product.status != ProductStatus.ON_SHELF:
                product.on_shelf_at = timezone.now()
        product.status = status
        product.save(update_fields=["status", "on_shelf_at", "updated_at"])
        audit.record(
            actor, "catalog.shelf_status", obj=product, summary=f"{product.title}: {status}"
        )
    return product


def add_image(product_id: int, upload, *, actor: Actor, alt: str = "") -> ProductImage:
    """Store an uploaded JPEG/PNG/GIF/WebP image under MEDIA_ROOT, checked by content, not name."""
    authorize(actor, "catalog.edit")
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise NotFound(_("Not found."))
    if upload.size > MAX_IMAGE_BYTES:
        raise ValidationFailed(_("Images may be at most 5 MB."), fields={"image": _("too large")})
    head = upload.read(16)
    upload.seek(0)
    extension = next((ext for sig, ext in _IMAGE_SIGNATURES.items() if head.startswith(sig)), None)
    if extension is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        extension = ".webp"
    if extension is None:
        raise ValidationFailed(
            _("Upload a JPEG, PNG, GIF or WebP image."), fields={"image": _("not an image")}
        )
    if product.images.count() >= MAX_IMAGES:
        raise Conflict(_("A product has at most 12 images."), code="too_many_images")
    upload.name = f"{uuid.uuid4().hex}{extension}"
    last = product.images.order_by("-sort").values_list("sort", flat=True).first()
    image = ProductImage(product=product, alt=alt[:120], sort=(last or 0) + 1)
    image.file.save(upload.name, upload, save=False)
    image.save()
    return image


def delete_image(image_id: int, *, actor: Actor) -> None:
    authorize(actor, "catalog.edit")
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None:
        raise NotFound(_("Not found."))
    name = image.file.name
    storage = image.file.storage
    image.delete()
    transaction.on_commit(lambda: storage.delete(name) if storage.exists(name) else None)


def move_image_first(image_id: int, *, actor: Actor) -> None:
    """Make an image the product's main picture."""
    authorize(actor, "catalog.edit")
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None:
        raise NotFound(_("Not found."))
    first = image.product.images.order_by("sort").values_list("sort", flat=True).first() or 0
    image.sort = first - 1
    image.save(update_fields=["sort"])


def image_extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


# --- categories, brands, suppliers, locations ------------------------------------------------


def category_depth(category: Category) -> int:
    depth, node = 1, category
    while node.parent_id is not None:
        depth += 1
        node = node.parent
    return depth


def save_category(
    *,
    actor: Actor,
    name: str,
    parent_id: int | None = None,
    sort: int = 0,
    is_active: bool = True,
    category_id: int | None = None,
) -> Category:
    authorize(actor, "catalog.edit")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": _("This field is required.")})
    parent = None
    if parent_id is not None:
        parent = Category.objects.filter(pk=parent_id).first()
        if parent is None:
            raise ValidationFailed(fields={"parent": _("Unknown category.")})
        if category_depth(parent) >= Category.MAX_DEPTH:
            raise ValidationFailed(
                _("Categories go at most three levels deep."), fields={"parent": _("too deep")}
            )
    category = (
        Category() if category_id is None else Category.objects.filter(pk=category_id).first()
    )
    if category is None:
        raise NotFound(_("Not found."))
    if category.pk is not None and parent is not None:
        node = parent
        while node is not None:
            if node.pk == category.pk:
                raise ValidationFailed(
                    _("A category cannot sit under itself."), fields={"parent": _("loop")}
                )
            node = node.parent
    category.name, category.parent, category.sort, category.is_active = (
        name,
        parent,
        sort,
        is_active,
    )
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError:
        raise ValidationFailed(
            _("A category with this name already exists here."), fields={"name": _("taken")}
        )
    return category


def category_tree(*, active_only: bool = False) -> list[tuple[Category, int]]:
    """Categories in display order with their depth (0 for top level)."""
    qs = Category.objects.all()
    if active_only:
        qs = qs.filter(is_active=True)
    by_parent: dict[int | None, list[Category]] = {}
    for c in qs.order_by("sort", "id"):
        by_parent.setdefault(c.parent_id, []).append(c)
    out: list[tuple[Category, int]] = []

    def walk(parent_id, depth):
        for c in by_parent.get(parent_id, []):
            out.append((c, depth))
            walk(c.pk, depth + 1)

    walk(None, 0)
    return out


def descendant_ids(category_id: int) -> list[int]:
    """The category and everything under it (catalogue browsing by a top-level category)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    found, todo = [], [category_id]
    while todo:
        pk = todo.pop()
        found.append(pk)
        todo.extend(children.get(pk, []))
    return found


def save_brand(*, actor: Actor, name: str, story: str = "", sort: int = 0, brand_id=None) -> Brand:
    authorize(actor, "catalog.edit")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(fields={"name": _("This field is required.")})
    brand = Brand() if brand_id is None else Brand.objects.filter(pk=brand_id).first()
    if brand is None:
        raise NotFound(_("Not found."))
    brand.name, brand.story, brand.sort = name, story, sort
    try:
        with transaction.atomic():
            brand.save()
    except IntegrityError:
        raise ValidationFailed(_("This brand already exists."), fields={"name": _("taken")})
    return brand


SUPPLIER_FIELDS = ("code", "name", "contact_name", "contact_phone", "email", "address", "notes")


def save_supplier(*, actor: Actor, supplier_id: int | None = None, **values) -> Supplier:
    authorize(actor, "catalog.suppliers")
    supplier = (
        Supplier() if supplier_id is None else Supplier.objects.filter(pk=supplier_id).first()
    )
    if supplier is None:
        raise NotFound(_("Not found."))
    for name in SUPPLIER_FIELDS:
        if name in values:
            setattr(supplier, name, (values[name] or "").strip())
    if "is_active" in values:
        supplier.is_active = bool(values["is_active"])
    errors = {n: _("This field is required.") for n in ("code", "name") if not getattr(supplier, n)}
    if errors:
        raise ValidationFailed(fields=errors)
    try:
        with transaction.atomic():
            supplier.save()
            audit.record(actor, "catalog.supplier_saved", obj=supplier, summary=supplier.name)
    except IntegrityError:
        raise ValidationFailed(_("This supplier code is taken."), fields={"code": _("taken")})
    return supplier


def save_location(*, actor: Actor, location_id: int | None = None, **values) -> Location:
    """A warehouse or store stock location. A store location is that store's pickup point."""
    authorize(actor, "catalog.edit")
    location = (
        Location() if location_id is None else Location.objects.filter(pk=location_id).first()
    )
    if location is None:
        raise NotFound(_("Not found."))
    for name in ("code", "name", "kind", "address"):
        if name in values:
            setattr(location, name, (values[name] or "").strip())
    for name in ("ships_online", "is_pickup", "is_active"):
        if name in values:
            setattr(location, name, bool(values[name]))
    if "priority" in values:
        location.priority = int(values["priority"] or 0)
    if "store_id" in values:
        location.store_id = values["store_id"]
    errors = {n: _("This field is required.") for n in ("code", "name") if not getattr(location, n)}
    if location.kind not in LocationKind.values:
        errors["kind"] = _("Choose warehouse or store.")
    elif location.kind == LocationKind.STORE and not location.store_id:
        errors["store_id"] = _("A store location belongs to a store.")
    if location.kind == LocationKind.WAREHOUSE:
        location.store_id = None
        location.is_pickup = False
    if errors:
        raise ValidationFailed(fields=errors)
    try:
        with transaction.atomic():
            location.save()
    except IntegrityError:
        raise ValidationFailed(
            _("This code is taken, or the store already has a location."),
            fields={"code": _("taken")},
        )
    return location


# --- reads ---------------------------------------------------------------------------------------


def products_for_staff(actor: Actor) -> QuerySet[Product]:
    authorize(actor, "catalog.view")
    return Product.objects.select_related("category", "brand")


def filter_products(
    qs: QuerySet[Product],
    *,
    q: str = "",
    category_id: int | None = None,
    brand_id: int | None = None,
    status: str = "",
    fulfilment: str = "",
    supplier_id: int | None = None,
) -> QuerySet[Product]:
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(skus__code__iexact=q) | Q(subtitle__icontains=q))
    if category_id:
        qs = qs.filter(category_id__in=descendant_ids(category_id))
    if brand_id:
        qs = qs.filter(brand_id=brand_id)
    if status:
        qs = qs.filter(status=status)
    if fulfilment:
        qs = qs.filter(skus__fulfilment=fulfilment)
    if supplier_id:
        qs = qs.filter(skus__supplier_id=supplier_id)
    return qs.distinct() if (q or fulfilment or supplier_id) else qs


def shop_products(
    *, q: str = "", category_id: int | None = None, brand_id: int | None = None, featured=None
) -> QuerySet[Product]:
    """What shoppers may browse: on the shelf, with a SKU on sale."""
    qs = Product.objects.filter(status=ProductStatus.ON_SHELF, skus__is_active=True)
    if featured:
        qs = qs.filter(is_featured=True)
    qs = filter_products(qs, q=q, category_id=category_id, brand_id=brand_id)
    return qs.distinct().select_related("brand", "category")


def stock_table(sku_ids: Iterable[int]) -> dict[int, list[StockLevel]]:
    rows = StockLevel.objects.filter(sku_id__in=list(sku_ids)).select_related("location")
    table: dict[int, list[StockLevel]] = {}
    for row in rows.order_by("sku_id", "location__priority", "location_id"):
        table.setdefault(row.sku_id, []).append(row)
    return table


def low_stock_skus(threshold: int = 10, limit: int = 50) -> list[Sku]:
    """Stocked SKUs on sale whose sellable units online are below `threshold`."""
    from django.db.models import Sum

    levels = (
        StockLevel.objects.filter(
            location__ships_online=True,
            location__is_active=True,
            sku__is_active=True,
            sku__fulfilment=Fulfilment.STOCKED,
            sku__product__status=ProductStatus.ON_SHELF,
        )
        .values("sku_id")
        .annotate(available=Sum(F("on_hand") - F("reserved")))
        .filter(available__lt=threshold)
        .order_by("available")[:limit]
    )
    ids = [row["sku_id"] for row in levels]
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=ids).select_related("product")}
    return [skus[i] for i in ids if i in skus]


def pickup_points() -> list[Location]:
    """Active stores where shoppers may collect orders (the checkout's store-pickup choice)."""
    return list(
        Location.objects.filter(is_pickup=True, is_active=True, store__isnull=False)
        .select_related("store")
        .order_by("priority", "id")
    )
