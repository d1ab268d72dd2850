"""Checkout: delivery or store pickup, the address book, the server's quote, placing the order."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from siyu.catalog import services as catalog
from siyu.core.errors import DomainError, NotFound
from siyu.marketing import services as marketing
from siyu.orders import services as orders

from .. import services
from ..profile import shopper_profile
from ..sessions import attribution_hints, shopper_required
from .common import render_page

# the shopper chose to use no coupon (an empty choice means "pick the best one for me")
NO_COUPON = "none"


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class _Request:
    """What the shopper asked for, from the query string (page) or the form (placing)."""

    def __init__(self, data, actor):
        self.from_cart = data.get("from") == "cart"
        self.sku_id = _int(data.get("sku"))
        self.quantity = max(1, min(999, _int(data.get("quantity"), 1)))
        self.method = data.get("method") if data.get("method") in ("delivery", "pickup") else ""
        self.store_id = _int(data.get("store"))
        self.address_id = _int(data.get("address"))
        self.note = (data.get("note") or "").strip()[:200]
        self.coupon = (data.get("coupon") or "").strip()[:40]
        self.use_points = data.get("use_points") == "1"
        self.pickup_name = (data.get("pickup_name") or "").strip()[:30]
        self.pickup_phone = (data.get("pickup_phone") or "").strip()[:20]
        # The confirmation page posts back exactly the items it showed ("sku:quantity"), so what
        # the shopper saw is what is ordered, and a double submit replays the same request.
        self.posted_items = []
        for raw in data.getlist("item") if hasattr(data, "getlist") else []:
            sku, _sep, qty = str(raw).partition(":")
            if _int(sku) and _int(qty):
                self.posted_items.append((_int(sku), _int(qty)))
        self.actor = actor

    def items(self) -> list[tuple[int, int]]:
        if self.posted_items:
            return self.posted_items
        if self.from_cart:
            return orders.selected_items(self.actor)
        return [(self.sku_id, self.quantity)] if self.sku_id else []

    def query(self, **changes) -> str:
        params = {
            "from": "cart" if self.from_cart else "",
            "sku": self.sku_id or "",
            "quantity": self.quantity if not self.from_cart else "",
            "method": self.method,
            "store": self.store_id or "",
            "address": self.address_id or "",
            "coupon": self.coupon,
        }
        params.update(changes)
        return urlencode({k: v for k, v in params.items() if v not in ("", None)})


def _context(request, wanted: _Request, errors: dict | None = None) -> dict:
    actor = request.actor
    items = wanted.items()
    pickup_points = catalog.pickup_points()
    method = wanted.method or "delivery"
    address = None
    if method == "delivery":
        if wanted.address_id:
            address = services.get_address(wanted.address_id, actor=actor)
        else:
            address = services.default_address(actor=actor)
    store_id = wanted.store_id
    if method == "pickup" and not store_id and pickup_points:
        store_id = pickup_points[0].store_id
    default = services.default_address(actor=actor)
    contact_name = wanted.pickup_name or (default.receiver_name if default else "")
    contact_phone = wanted.pickup_phone or (default.receiver_phone if default else "")
    if not contact_phone:
        contact_phone = shopper_profile(actor).phone or ""
    checkout = orders.Checkout(
        items=items,
        delivery_method=method,
        store_id=store_id if method == "pickup" else None,
        address=_order_address(method, address, contact_name, contact_phone),
        buyer_note=wanted.note,
        context={},
        hints=attribution_hints(request),
        from_cart=wanted.from_cart,
    )
    quote, problem, coupon_options = None, "", []
    if items:
        try:
            quote = orders.quote(actor, checkout)
        except DomainError as exc:
            problem = exc.message
    if quote is not None and not problem:
        # the shopper's coupons priced against this order; on first view the best is chosen
        coupon_options = marketing.usable_for(actor, quote)
        if not wanted.coupon:
            wanted.coupon = marketing.best_code(actor, quote) or NO_COUPON
        if wanted.coupon != NO_COUPON:
            checkout.context = {"coupon_codes": [wanted.coupon]}
            try:
                quote = orders.quote(actor, checkout)
            except DomainError as exc:
                problem = exc.message
    if quote is not None and not problem and wanted.use_points:
        # points pay last, on what is left after the coupon (membership's `points` adjuster)
        checkout.context = {**checkout.context, "use_points": True}
        try:
            quote = orders.quote(actor, checkout)
        except DomainError as exc:
            problem = exc.message
    return {
        "title": _("Confirm order"),
        "wanted": wanted,
        "method": method,
        "address": address,
        "pickup_points": pickup_points,
        "store_id": store_id,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "quote": quote,
        "problem": problem,
        "errors": errors or {},
        "checkout": checkout,
        "coupon_options": coupon_options,
        "no_coupon": NO_COUPON,
        "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
        "address_book_url": f"{reverse('mall:addresses')}?"
        + urlencode({"next": f"{reverse('mall:checkout')}?{wanted.query(address='')}"}),
        "switch_url": f"{reverse('mall:checkout')}?{wanted.query(method='')}",
        "back_url": reverse("mall:cart") if wanted.from_cart else "javascript:history.back()",
    }


def _order_address(method, address, contact_name, contact_phone):
    if method == "delivery":
        if address is None:
            return None
        return orders.Address(
            name=address.receiver_name,
            phone=address.receiver_phone,
            province=address.province,
            city=address.city,
            district=address.district,
            detail=address.detail,
        )
    return orders.Address(name=contact_name, phone=contact_phone)


@shopper_required
def checkout(request):
    data = request.POST if request.method == "POST" else request.GET
    wanted = _Request(data, request.actor)
    if not wanted.items():
        messages.info(request, _("Choose something to buy first."))
        return redirect("mall:cart")
    try:
        context = _context(request, wanted)
    except NotFound:  # an address id that is not this shopper's
        return redirect(f"{reverse('mall:checkout')}?{wanted.query(address='')}")
    if request.method == "POST":
        try:
            placed = orders.place_order(
                request.actor,
                context["checkout"],
                idempotency_key=request.POST.get("idempotency_key", ""),
            )
        except DomainError as exc:
            context["problem"] = exc.message
            context["errors"] = exc.fields
            return render_page(request, "mall/checkout.html", context, status=exc.status)
        return redirect("mall:pay", order_id=placed.order.pk)
    template = "mall/_checkout_body.html" if request.htmx else "mall/checkout.html"
    return render_page(request, template, context)
