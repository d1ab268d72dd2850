"""What every H5 page shares: the tab bar, the shop name, safe redirects, the client address."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from ..sessions import shopper_actor

TABS = (
    ("home", "mall:home", "⌂"),
    ("categories", "mall:categories", "☰"),
    ("cart", "mall:cart", "🛒"),
    ("me", "mall:me", "☺"),
)


def _tab_labels() -> dict:
    return {"home": _("Home"), "categories": _("Categories"), "cart": _("Cart"), "me": _("Me")}


def cart_count(actor) -> int:
    """Items in the shopper's cart, for the tab bar badge."""
    if actor.kind != "customer":
        return 0
    from siyu.orders import services as orders

    return orders.cart_size(actor)


def tabs(actor, badge: int = 0) -> list[dict]:
    labels = _tab_labels()
    items = []
    for key, url_name, icon in TABS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        badge = cart_count(actor) if key == "cart" else 0
        items.append({"key": key, "url": url, "icon": icon, "label": labels[key], "badge": badge})
    return items


def render_page(request, template: str, context: dict | None = None, *, tab: str = "", status=200):
    actor = shopper_actor(request)
    badge = cart_count(actor)
    base = {
        "actor": actor,
        "tab": tab,
        "tabs": tabs(actor, badge),
        "cart_badge": badge,
        "shop_name": settings.SIYU_SHOP_NAME or _("siyu mall"),
    }
    base.update(context or {})
    return render(request, template, base, status=status)


def safe_next(request, candidate: str | None, default: str = "") -> str:
    """Only local /m/ paths: a login link must not bounce a shopper to another site."""
    default = default or reverse("mall:home")
    if not candidate or not candidate.startswith("/m/"):
        return default
    if not url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return default
    return candidate


def client_ip(request) -> str:
    header = settings.SIYU_CLIENT_IP_HEADER
    if header:
        value = request.META.get(header, "").split(",")[0].strip()
        if value:
            return value
    return request.META.get("REMOTE_ADDR", "") or "unknown"
