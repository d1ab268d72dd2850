"""How a coupon reads to people: "¥20 off", "20% off, up to ¥50", "¥30 off over ¥200"."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from siyu.core.money import format_fen

register = template.Library()


@register.filter
def coupon_value(coupon) -> str:
    """The big figure on a coupon card."""
    if coupon.kind == "percent":
        return _("%(n)s%% off") % {"n": coupon.percent_off}
    if coupon.kind == "free_shipping":
        return _("Free shipping")
    return format_fen(coupon.amount_fen)


@register.filter
def coupon_terms(coupon) -> str:
    """The small print: minimum spend, cap, scope."""
    parts = []
    if coupon.min_spend_fen:
        parts.append(_("over %(amount)s") % {"amount": format_fen(coupon.min_spend_fen)})
    else:
        parts.append(_("no minimum"))
    if coupon.kind == "percent" and coupon.max_discount_fen:
        parts.append(_("up to %(amount)s off") % {"amount": format_fen(coupon.max_discount_fen)})
    if coupon.scope == "products":
        parts.append(_("chosen products"))
    elif coupon.scope == "categories":
        parts.append(_("chosen categories"))
    else:
        parts.append(_("whole shop"))
    return " · ".join(parts)
