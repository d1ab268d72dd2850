"""Browsing: home, categories, search, product pages, adding to the cart."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import Min, Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.catalog import services as catalog
from siyu.catalog.models import Category, ProductImage, Sku
from siyu.catalog.stock import available_by_sku
from siyu.core.errors import DomainError, NotFound
from siyu.orders import services as orders

from ..picker import StockState, build_picker
from ..sessions import page_of, shopper_actor, shopper_required
from .common import cart_count, render_page

PAGE_SIZE = 20
SORTS = ("default", "new", "price_asc", "price_desc")


def _with_cards(qs):
    """What a product card needs: lowest price on sale and the first image."""
    return qs.annotate(
        min_price_fen=Min("skus__price_fen", filter=Q(skus__is_active=True)),
        min_list_price_fen=Min("skus__list_price_fen", filter=Q(skus__is_active=True)),
    ).prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("sort", "id")))


def _sorted(qs, sort: str):
    if sort == "new":
        return qs.order_by("-on_shelf_at", "-id")
    if sort == "price_asc":
        return qs.order_by("min_price_fen", "-id")
    if sort == "price_desc":
        return qs.order_by("-min_price_fen", "-id")
    return qs.order_by("sort", "-id")


def _page(request, qs) -> tuple[list, int | None]:
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    start = (page - 1) * PAGE_SIZE
    rows = list(qs[start : start + PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], (page + 1 if len(rows) > PAGE_SIZE else None)


def _next_url(request, next_page: int | None) -> str:
    if next_page is None:
        return ""
    params = request.GET.copy()
    params["page"] = str(next_page)
    return f"{request.path}?{params.urlencode()}"


def _top_categories() -> list:
    return [c for c, depth in catalog.category_tree(active_only=True) if depth == 0]


def home(request):
    featured = _with_cards(catalog.shop_products(featured=True)).order_by("sort", "-id")[:20]
    featured = list(featured)
    if not featured:  # nothing marked featured yet: show the newest instead of an empty shelf
        featured = list(_with_cards(catalog.shop_products()).order_by("-on_shelf_at", "-id")[:20])
    return render_page(
        request,
        "mall/home.html",
        {"title": _("Home"), "categories": _top_categories()[:10], "products": featured},
        tab="home",
    )


def categories(request):
    tree = catalog.category_tree(active_only=True)
    top = []
    for category, depth in tree:
        if depth == 0:
            top.append({"category": category, "children": []})
        elif depth == 1 and top:
            top[-1]["children"].append(category)
    return render_page(
        request, "mall/categories.html", {"title": _("Categories"), "groups": top}, tab="categories"
    )


def _listing(request, qs, context: dict, tab: str):
    sort = request.GET.get("sort", "default")
    if sort not in SORTS:
        sort = "default"
    products, next_page = _page(request, _sorted(_with_cards(qs), sort))
    context.update(
        {
            "products": products,
            "next_url": _next_url(request, next_page),
            "sort": sort,
            "sort_options": [
                ("default", _("Recommended")),
                ("new", _("Newest")),
                ("price_asc", _("Price: low to high")),
                ("price_desc", _("Price: high to low")),
            ],
        }
    )
    if request.htmx and request.GET.get("page"):
        return render_page(request, "mall/_product_cards.html", context)
    return render_page(request, "mall/listing.html", context, tab=tab)


def category(request, category_id: int):
    current = Category.objects.filter(pk=category_id, is_active=True).first()
    if current is None:
        raise NotFound(_("This category does not exist."))
    children = list(current.children.filter(is_active=True).order_by("sort", "id"))
    parent = current.parent if current.parent_id else None
    siblings = list(parent.children.filter(is_active=True).order_by("sort", "id")) if parent else []
    return _listing(
        request,
        catalog.shop_products(category_id=current.pk),
        {
            "title": current.name,
            "category": current,
            "chips": children or siblings,
            "chip_parent": current if children else parent,
            "back_url": reverse("mall:categories"),
        },
        tab="categories",
    )


def search(request):
    q = (request.GET.get("q") or "").strip()[:50]
    qs = catalog.shop_products(q=q) if q else catalog.shop_products().none()
    return _listing(
        request,
        qs,
        {"title": _("Search"), "q": q, "back_url": reverse("mall:home"), "is_search": True},
        tab="home",
    )


def _product_and_skus(product_id: int):
    product = (
        catalog.shop_products()
        .filter(pk=product_id)
        .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("sort", "id")))
        .first()
    )
    if product is None:
        raise NotFound(_("This product is not on sale."))
    skus = list(Sku.objects.filter(product=product, is_active=True).order_by("sort", "id"))
    stocked = [s.pk for s in skus if not s.is_drop_ship]
    units = available_by_sku(stocked) if stocked else {}
    available = {s.pk: (None if s.is_drop_ship else units.get(s.pk, 0)) for s in skus}
    return product, skus, available


def _chosen(request, names) -> dict:
    return {n: request.GET.get(f"spec:{n}", "") for n in names}


def product(request, product_id: int):
    product, skus, available = _product_and_skus(product_id)
    from ..picker import spec_names

    picker = build_picker(product, skus, available, _chosen(request, spec_names(product, skus)))
    try:
        quantity = max(1, min(999, int(request.GET.get("quantity", "1"))))
    except ValueError:
        quantity = 1
    context = {
        "title": product.title,
        "product": product,
        "panels": _product_panels(request, product),
        "images": list(product.images.all()),
        "picker": picker,
        "quantity": quantity,
        "back_url": "javascript:history.back()",
        "low_stock": StockState,
    }
    if request.htmx and request.htmx.target == "buy-panel":
        return render_page(request, "mall/_buy_panel.html", context)
    return render_page(request, "mall/product.html", context)


def _product_panels(request, product) -> list[str]:
    """What other apps show on the product page (`SiyuAppConfig.product_panels`), rendered."""
    from django.template.loader import render_to_string

    from siyu.core.apps import siyu_configs

    actor = shopper_actor(request)
    panels = [panel for config in siyu_configs() for panel in config.product_panels(actor, product)]
    panels.sort(key=lambda p: p.get("order", 100))
    return [render_to_string(p["template"], p.get("context", {}), request=request) for p in panels]


def _quantity(request) -> int:
    try:
        return int(request.POST.get("quantity", "1"))
    except ValueError:
        return 0


@shopper_required
@require_POST
def add_to_cart(request):
    try:
        sku_id = int(request.POST.get("sku_id", ""))
    except ValueError:
        sku_id = 0
    try:
        orders.add_to_cart(request.actor, sku_id, _quantity(request))
    except DomainError as exc:
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Trigger"] = json.dumps(
                {"toast": {"message": exc.message, "level": "error"}}
            )
            return response
        messages.error(request, exc.message)
        return redirect(page_of(request))
    count = cart_count(request.actor)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Trigger"] = json.dumps(
            {"toast": {"message": _("Added to your cart.")}, "cartChanged": {"count": count}}
        )
        return response
    messages.success(request, _("Added to your cart."))
    return redirect(page_of(request))


@shopper_required
@require_POST
def buy_now(request):
    """Straight to checkout with one SKU, leaving the cart as it is."""
    try:
        sku_id = int(request.POST.get("sku_id", ""))
    except ValueError:
        messages.error(request, _("Choose a specification first."))
        return redirect(page_of(request))
    query = urlencode({"sku": sku_id, "quantity": max(1, _quantity(request))})
    target = f"{reverse('mall:checkout')}?{query}"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)
