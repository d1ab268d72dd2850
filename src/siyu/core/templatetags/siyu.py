"""Template helpers shared by console and H5 pages (loaded as builtins)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.utils import timezone

from .. import crypto
from ..money import format_fen

register = template.Library()


@register.filter
def fen(value) -> str:
    """{{ order.amount_fen|fen }} -> ¥123.45"""
    return format_fen(value)


@register.filter
def fen_plain(value) -> str:
    return format_fen(value, symbol=False)


@register.filter
def masked_phone(value) -> str:
    return crypto.mask_phone(value)


@register.filter
def cn_datetime(value) -> str:
    """Shanghai time, Chinese order: 2026-11-23 18:05."""
    if not value:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


@register.filter
def cn_date(value) -> str:
    if not value:
        return ""
    if hasattr(value, "hour"):
        value = timezone.localtime(value)
    return value.strftime("%Y-%m-%d")


@register.filter
def percent(value, digits: int = 1) -> str:
    if value is None:
        return ""
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """Current query string with some parameters changed (None removes one): keeps filters on
    pagination links."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    # moving between pages always drops the opposite cursor
    if "after" in changes:
        params.pop("before", None)
    if "before" in changes:
        params.pop("after", None)
    encoded = urlencode([(k, v) for k in params for v in params.getlist(k)])
    return f"?{encoded}" if encoded else "?"


@register.filter
def get_item(mapping, key):
    try:
        return mapping.get(key)
    except AttributeError:
        return None
