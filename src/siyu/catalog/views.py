"""Console pages for the catalogue: products with SKUs, images and stock; stock movements;
categories and brands; suppliers; stock locations. Every change goes through the services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.pagination import page_from_request

from . import forms, services, stock
from .models import (
    Brand,
    Category,
    Fulfilment,
    Location,
    Product,
    ProductStatus,
    Sku,
    StockLevel,
    StockMovement,
    Supplier,
)


def _form_errors(form, exc: DomainError) -> None:
    """Put a service's field errors on the form (unknown fields become form errors)."""
    for field, message in exc.fields.items():
        name = field.split(".")[-1]
        form.add_error(name if name in form.fields else None, message)
    if not exc.fields:
        form.add_error(None, exc.message)


# --- products -------------------------------------------------------------------------------


@login_required
def product_list(request):
    actor = actor_from_request(request)
    qs = services.products_for_staff(actor)
    params = request.GET

    def as_int(name):
        raw = params.get(name, "")
        return int(raw) if raw.isdigit() else None

    qs = services.filter_products(
        qs,
        q=params.get("q", "").strip(),
        category_id=as_int("category"),
        brand_id=as_int("brand"),
        status=params.get("status", ""),
        fulfilment=params.get("fulfilment", ""),
        supplier_id=as_int("supplier"),
    )
    page = page_from_request(
        request,
        Product.objects.filter(pk__in=qs.values("pk"))
        .select_related("category", "brand")
        .prefetch_related(Prefetch("skus", queryset=Sku.objects.order_by("sort", "id")), "images"),
    )
    sku_ids = [s.pk for p in page.items for s in p.skus.all()]
    available = stock.available_by_sku(sku_ids)
    rows = []
    for p in page.items:
        skus = list(p.skus.all())
        active = [s for s in skus if s.is_active] or skus
        prices = [s.price_fen for s in active]
        images = list(p.images.all())
        rows.append(
            {
                "product": p,
                "image": images[0].file.url if images else "",
                "sku_count": len(skus),
                "min_price": min(prices) if prices else 0,
                "max_price": max(prices) if prices else 0,
                "available": sum(available.get(s.pk, 0) for s in skus if not s.is_drop_ship),
                "drop_ship": any(s.is_drop_ship for s in skus),
            }
        )
    return render(
        request,
        "catalog/product_list.html",
        {
            "title": _("Products"),
            "page": page,
            "rows": rows,
            "categories": forms.category_choices(blank=_("All categories")),
            "brands": Brand.objects.all(),
            "suppliers": Supplier.objects.all(),
            "statuses": ProductStatus.choices,
            "fulfilments": Fulfilment.choices,
            "can_edit": actor.can("catalog.edit"),
        },
    )


def _initial_rows(product: Product | None) -> list[dict]:
    if product is None:
        return []
    names = list(product.spec_names or [])
    return [
        {
            "id": s.pk,
            "code": s.code,
            "specs": " / ".join(str((s.spec_values or {}).get(n, "")) for n in names),
            "price": s.price_fen,
            "list_price": s.list_price_fen or None,
            "cost": s.cost_fen,
            "weight_g": s.weight_g,
            "fulfilment": s.fulfilment,
            "supplier": s.supplier_id,
            "is_active": s.is_active,
        }
        for s in product.skus.order_by("sort", "id")
    ]


def _product_input(form, formset) -> services.ProductInput | None:
    names = form.spec_list()
    skus = []
    for row in formset:
        if row.is_blank():
            continue
        data = row.cleaned_data
        values = [v.strip() for v in (data.get("specs") or "").split("/")]
        spec_values = {n: values[i] for i, n in enumerate(names) if i < len(values) and values[i]}
        skus.append(
            services.SkuInput(
                id=data.get("id"),
                code=data.get("code") or "",
                price_fen=data.get("price") if data.get("price") is not None else -1,
                spec_values=spec_values,
                list_price_fen=data.get("list_price") or 0,
                cost_fen=data.get("cost") or 0,
                weight_g=data.get("weight_g") or 0,
                fulfilment=data.get("fulfilment") or Fulfilment.STOCKED,
                supplier_id=data["supplier"].pk if data.get("supplier") else None,
                is_active=bool(data.get("is_active")),
            )
        )
    d = form.cleaned_data
    return services.ProductInput(
        title=d["title"],
        category_id=d["category"],
        skus=skus,
        subtitle=d.get("subtitle") or "",
        brand_id=d["brand"].pk if d.get("brand") else None,
        description=d.get("description") or "",
        spec_names=names,
        per_customer_limit=d.get("per_customer_limit"),
        usage_days=d.get("usage_days"),
        is_featured=bool(d.get("is_featured")),
        sort=d.get("sort") or 0,
    )


def _sku_errors(formset, exc: DomainError, form) -> None:
    rows = [row for row in formset if not row.is_blank()]
    for field, message in exc.fields.items():
        parts = field.split(".")
        if (
            parts[0] == "skus"
            and len(parts) == 3
            and parts[1].isdigit()
            and int(parts[1]) < len(rows)
        ):
            name = {
                "price_fen": "price",
                "list_price_fen": "list_price",
                "cost_fen": "cost",
                "spec_values": "specs",
                "supplier_id": "supplier",
            }.get(parts[2], parts[2])
            row = rows[int(parts[1])]
            row.add_error(name if name in row.fields else None, message)
        else:
            name = {"category_id": "category", "brand_id": "brand"}.get(field, field)
            form.add_error(name if name in form.fields else None, message)
    if not exc.fields:
        form.add_error(None, exc.message)


@login_required
def product_edit(request, product_id: int | None = None):
    actor = actor_from_request(request)
    authorize(actor, "catalog.view")
    product = get_object_or_404(Product, pk=product_id) if product_id else None
    if product is None:
        authorize(actor, "catalog.edit")
    if product:
        initial = {
            "title": product.title,
            "subtitle": product.subtitle,
            "category": product.category_id,
            "brand": product.brand_id,
            "spec_names": ", ".join(product.spec_names or []),
            "per_customer_limit": product.per_customer_limit,
            "usage_days": product.usage_days,
            "is_featured": product.is_featured,
            "sort": product.sort,
            "description": product.description,
        }
    else:
        initial = {"spec_names": "规格"}
    form = forms.ProductForm(initial=initial)
    formset = forms.SkuFormSet(initial=_initial_rows(product), prefix="sku")
    if request.method == "POST":
        authorize(actor, "catalog.edit")
        form = forms.ProductForm(request.POST)
        formset = forms.SkuFormSet(request.POST, prefix="sku")
        if form.is_valid() and formset.is_valid():
            data = _product_input(form, formset)
            try:
                if product:
                    services.update_product(product.pk, data, actor=actor)
                else:
                    product = services.create_product(data, actor=actor)
            except DomainError as exc:
                _sku_errors(formset, exc, form)
            else:
                messages.success(request, _("Product saved."))
                return redirect("catalog:product", product.pk)
    context = {
        "title": product.title if product else _("New product"),
        "product": product,
        "form": form,
        "formset": formset,
        "can_edit": actor.can("catalog.edit"),
        "show_cost": actor.can("catalog.view_cost"),
    }
    if product:
        skus = list(product.skus.order_by("sort", "id"))
        table = services.stock_table(s.pk for s in skus)
        context.update(
            {
                "skus": [(s, table.get(s.pk, [])) for s in skus],
                "images": product.images.all(),
                "image_form": forms.ImageForm(),
                "locations": Location.objects.filter(is_active=True),
                "movements": StockMovement.objects.filter(sku__product=product).select_related(
                    "sku", "location"
                )[:20],
                "statuses": ProductStatus.choices,
                "can_stock": actor.can("catalog.stock"),
            }
        )
    return render(request, "catalog/product_form.html", context)


@login_required
@require_POST
def product_shelf(request, product_id: int):
    actor = actor_from_request(request)
    authorize(actor, "catalog.edit")
    try:
        services.set_shelf_status(product_id, request.POST.get("status", ""), actor=actor)
        messages.success(request, _("Shelf status changed."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("catalog:product", product_id)


@login_required
@require_POST
def image_upload(request, product_id: int):
    actor = actor_from_request(request)
    authorize(actor, "catalog.edit")
    form = forms.ImageForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_image(
                product_id, form.cleaned_data["image"], actor=actor, alt=form.cleaned_data["alt"]
            )
            messages.success(request, _("Image added."))
        except DomainError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, _("Choose an image file."))
    return redirect("catalog:product", product_id)


@login_required
@require_POST
def image_action(request, image_id: int, action: str):
    actor = actor_from_request(request)
    from .models import ProductImage

    image = get_object_or_404(ProductImage, pk=image_id)
    if action == "delete":
        services.delete_image(image_id, actor=actor)
        messages.success(request, _("Image removed."))
    else:
        services.move_image_first(image_id, actor=actor)
    return redirect("catalog:product", image.product_id)


# --- stock --------------------------------------------------------------------------------------


@login_required
def stock_overview(request):
    """Stock per SKU and location, low-stock first on request, and the movement log."""
    actor = actor_from_request(request)
    authorize(actor, "catalog.view")
    movement_filter = forms.MovementFilterForm(request.GET or None)
    movements = StockMovement.objects.select_related("sku__product", "location")
    if movement_filter.is_valid():
        d = movement_filter.cleaned_data
        if d.get("sku"):
            movements = movements.filter(sku__code=d["sku"].strip())
        if d.get("location"):
            movements = movements.filter(location=d["location"])
        if d.get("reason"):
            movements = movements.filter(reason=d["reason"])
    page = page_from_request(request, movements)
    low = services.low_stock_skus(limit=30)
    low_levels = services.stock_table(s.pk for s in low)
    return render(
        request,
        "catalog/stock.html",
        {
            "title": _("Stock"),
            "page": page,
            "filter_form": movement_filter,
            "low": [(s, low_levels.get(s.pk, [])) for s in low],
            "totals": {
                "levels": StockLevel.objects.count(),
                "locations": Location.objects.filter(is_active=True).count(),
            },
        },
    )


@login_required
@require_POST
def stock_adjust(request):
    actor = actor_from_request(request)
    authorize(actor, "catalog.stock")
    form = forms.AdjustmentForm(request.POST)
    back = request.POST.get("next") or "catalog:stock"
    if not form.is_valid():
        messages.error(request, _("Enter the location, the change and the reason."))
    else:
        d = form.cleaned_data
        try:
            movement = stock.adjust(
                d["sku"], d["location"].pk, d["delta"], actor=actor, note=d["note"]
            )
            messages.success(
                request,
                _("Stock changed: %(on_hand)s on hand, %(reserved)s reserved.")
                % {"on_hand": movement.on_hand_after, "reserved": movement.reserved_after},
            )
        except DomainError as exc:
            messages.error(request, exc.message)
    if back.startswith("/console/"):
        return redirect(back)
    return redirect("catalog:stock")


# --- categories, brands, suppliers, locations -------------------------------------------------


@login_required
def categories(request, category_id: int | None = None):
    actor = actor_from_request(request)
    authorize(actor, "catalog.edit")
    editing = get_object_or_404(Category, pk=category_id) if category_id else None
    category_form = forms.CategoryForm(
        initial={
            "name": editing.name,
            "parent": editing.parent_id,
            "sort": editing.sort,
            "is_active": editing.is_active,
        }
        if editing
        else None,
        prefix="cat",
    )
    brand_form = forms.BrandForm(prefix="brand")
    if request.method == "POST" and "cat-name" in request.POST:
        category_form = forms.CategoryForm(request.POST, prefix="cat")
        if category_form.is_valid():
            d = category_form.cleaned_data
            try:
                services.save_category(
                    actor=actor,
                    name=d["name"],
                    parent_id=d.get("parent"),
                    sort=d.get("sort") or 0,
                    is_active=bool(d.get("is_active")),
                    category_id=editing.pk if editing else None,
                )
            except DomainError as exc:
                _form_errors(category_form, exc)
            else:
                messages.success(request, _("Category saved."))
                return redirect("catalog:categories")
    elif request.method == "POST" and "brand-name" in request.POST:
        brand_form = forms.BrandForm(request.POST, prefix="brand")
        if brand_form.is_valid():
            d = brand_form.cleaned_data
            try:
                services.save_brand(
                    actor=actor, name=d["name"], story=d["story"], sort=d.get("sort") or 0
                )
            except DomainError as exc:
                _form_errors(brand_form, exc)
            else:
                messages.success(request, _("Brand saved."))
                return redirect("catalog:categories")
    from django.db.models import Count

    counts = dict(
        Product.objects.values("category_id")
        .annotate(n=Count("id"))
        .values_list("category_id", "n")
    )
    return render(
        request,
        "catalog/categories.html",
        {
            "title": _("Categories and brands"),
            "tree": [(c, depth, counts.get(c.pk, 0)) for c, depth in services.category_tree()],
            "brands": Brand.objects.annotate(n=Count("products")),
            "category_form": category_form,
            "brand_form": brand_form,
            "editing": editing,
        },
    )


@login_required
def suppliers(request, supplier_id: int | None = None):
    actor = actor_from_request(request)
    authorize(actor, "catalog.suppliers")
    editing = get_object_or_404(Supplier, pk=supplier_id) if supplier_id else None
    form = forms.SupplierForm(instance=editing)
    if request.method == "POST":
        form = forms.SupplierForm(request.POST, instance=editing)
        if form.is_valid():
            try:
                services.save_supplier(
                    actor=actor,
                    supplier_id=editing.pk if editing else None,
                    **{k: v for k, v in form.cleaned_data.items()},
                )
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Supplier saved."))
                return redirect("catalog:suppliers")
    from django.db.models import Count, Q

    rows = Supplier.objects.annotate(
        sku_count=Count("skus", distinct=True),
        open_pos=Count(
            "purchase_orders",
            filter=Q(purchase_orders__status__in=["pending", "sent"]),
            distinct=True,
        ),
    )
    return render(
        request,
        "catalog/suppliers.html",
        {"title": _("Suppliers"), "rows": rows, "form": form, "editing": editing},
    )


@login_required
def locations(request, location_id: int | None = None):
    actor = actor_from_request(request)
    authorize(actor, "catalog.edit")
    editing = get_object_or_404(Location, pk=location_id) if location_id else None
    form = forms.LocationForm(instance=editing)
    if request.method == "POST":
        form = forms.LocationForm(request.POST, instance=editing)
        if form.is_valid():
            values = dict(form.cleaned_data)
            store = values.pop("store", None)
            try:
                services.save_location(
                    actor=actor,
                    location_id=editing.pk if editing else None,
                    store_id=store.pk if store else None,
                    **values,
                )
            except DomainError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("Location saved."))
                return redirect("catalog:locations")
    return render(
        request,
        "catalog/locations.html",
        {
            "title": _("Stock locations"),
            "rows": Location.objects.select_related("store"),
            "form": form,
            "editing": editing,
        },
    )
