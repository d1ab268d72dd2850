from django import template

register = template.Library()


@register.filter
def bp(value) -> str:
    """Basis points as a percentage: 1250 -> 12.5%."""
    try:
        return f"{int(value) / 100:g}%"
    except (TypeError, ValueError):
        return ""
