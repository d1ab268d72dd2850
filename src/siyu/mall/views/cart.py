"""The cart page: quantities, selection, removal, all through the orders cart service."""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError
from siyu.orders import services as orders

from ..sessions import shopper_required
from .common import cart_count, render_page


def _cart_context(actor) -> dict:
    lines = orders.cart_lines(actor)
    for line in lines:
        line.buyable = line.on_sale and (line.available is None or line.available >= line.quantity)
    chosen = [ln for ln in lines if ln.selected and ln.buyable]
    return {
        "title": _("Cart"),
        "lines": lines,
        "chosen_count": sum(ln.quantity for ln in chosen),
        "chosen_total_fen": sum(ln.amount_fen for ln in chosen),
        "all_selected": bool(lines) and all(ln.selected for ln in lines),
    }


@shopper_required
def cart(request):
    return render_page(request, "mall/cart.html", _cart_context(request.actor), tab="cart")


def _int(value, default=0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@shopper_required
@require_POST
def cart_update(request):
    """One endpoint for the cart's small actions: quantity, select, select all, remove."""
    actor = request.actor
    action = request.POST.get("action", "")
    sku_ids = [_int(v) for v in request.POST.getlist("sku_id") if _int(v)]
    error = ""
    try:
        if action == "quantity" and sku_ids:
            orders.set_cart_quantity(
                actor, sku_ids[0], max(0, _int(request.POST.get("quantity"), 1))
            )
        elif action == "select":
            orders.select_cart_items(actor, sku_ids, request.POST.get("selected") == "on")
        elif action == "select_all":
            everything = [ln.sku_id for ln in orders.cart_lines(actor)]
            orders.select_cart_items(actor, everything, request.POST.get("selected") == "on")
        elif action == "remove" and sku_ids:
            orders.remove_from_cart(actor, sku_ids)
    except DomainError as exc:
        error = exc.message
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("mall:cart")
    response = render_page(request, "mall/_cart_body.html", _cart_context(actor))
    events = {"cartChanged": {"count": cart_count(actor)}}
    if error:
        events["toast"] = {"message": error, "level": "error"}
    response["HX-Trigger"] = json.dumps(events)
    return response
