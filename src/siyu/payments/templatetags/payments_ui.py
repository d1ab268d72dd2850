"""Badge colours for payment, refund and notification statuses."""

from __future__ import annotations

from django import template

register = template.Library()

_GOOD = {"succeeded", "processed", "delivered"}
_WARN = {"pending", "processing", "received", "duplicate", "ignored", "received_closed"}
_BAD = {"failed", "abnormal", "rejected"}


@register.filter
def badge(status: str) -> str:
    if status in _GOOD:
        return "badge ok"
    if status in _WARN:
        return "badge warn"
    if status in _BAD:
        return "badge bad"
    return "badge"
