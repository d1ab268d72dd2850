"""Per-product commission rates (percentage or fixed per item), which override level rates."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import NotFound, ValidationFailed
from siyu.orders.models import OrderLine

from .calculations import BP, Rate
from .models import ProductRate, RateMode


def rates_for_lines(lines: Iterable[OrderLine]) -> dict[int, ProductRate]:
    """The product rate of each line's product, keyed by line id, in one query."""
    product_of = {line.pk: line.sku.product_id for line in lines if line.sku_id}
    found = {
        r.product_id: r for r in ProductRate.objects.filter(product_id__in=set(product_of.values()))
    }
    return {line_id: found[pid] for line_id, pid in product_of.items() if pid in found}


def as_rate(product_rate: ProductRate, level: int) -> Rate:
    value = product_rate.level1_value if level == 1 else product_rate.level2_value
    return Rate(source="product", mode=product_rate.mode, value=value)


def _product(reference: str):
    """A product by id, or by the code of one of its SKUs."""
    from siyu.catalog.models import Product, Sku

    reference = (reference or "").strip()
    product = Product.objects.filter(pk=int(reference)).first() if reference.isdigit() else None
    if product is None:
        sku = Sku.objects.select_related("product").filter(code=reference).first()
        product = sku.product if sku else None
    if product is None:
        raise NotFound(_("No product with that id or SKU code."))
    return product


def save_product_rate(
    *, actor: Actor, product: str, mode: str, level1_value: int, level2_value: int = 0
) -> ProductRate:
    """Give a product its own rate. Like level rates, it applies to orders paid from now on."""
    authorize(actor, "distribution.manage")
    if mode not in RateMode.values:
        raise ValidationFailed(_("Choose a mode."), fields={"mode": _("Invalid.")})
    if (
        level1_value < 0
        or level2_value < 0
        or (mode == RateMode.PERCENT and level1_value + level2_value > BP)
    ):
        raise ValidationFailed(
            _("Rates are between 0% and 100%, and both levels together at most 100%."),
            fields={"level1": _("Out of range.")},
        )
    found = _product(product)
    with transaction.atomic():
        rate, _created = ProductRate.objects.update_or_create(
            product=found,
            defaults={
                "mode": mode,
                "level1_value": level1_value,
                "level2_value": level2_value,
                "updated_at": timezone.now(),
                "updated_by": actor.label[:150],
            },
        )
        audit.record(
            actor,
            "distribution.product_rate_saved",
            obj=rate,
            summary=found.title,
            data={"mode": mode, "level1": level1_value, "level2": level2_value},
        )
    return rate


def delete_product_rate(rate_id: int, *, actor: Actor) -> None:
    """The product goes back to the level rates (for orders paid from now on)."""
    authorize(actor, "distribution.manage")
    with transaction.atomic():
        rate = ProductRate.objects.select_related("product").filter(pk=rate_id).first()
        if rate is None:
            raise NotFound()
        audit.record(
            actor, "distribution.product_rate_removed", obj=rate, summary=rate.product.title
        )
        rate.delete()


def rate_rows():
    """Per-product rates for the console's rates page."""
    return ProductRate.objects.select_related("product").order_by("product__title")[:500]
