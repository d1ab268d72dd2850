"""The shopper's cart: SKUs and quantities only. Prices shown are today's catalogue prices;
the order is priced again on the server at checkout."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from siyu.catalog.models import ProductStatus, Sku
from siyu.catalog.stock import available_by_sku
from siyu.core.access import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from ..models import CartItem

MAX_CART_ITEMS = 100
MAX_QUANTITY = 999


@dataclass
class CartLine:
    sku_id: int
    sku_code: str
    product_id: int
    title: str
    spec_text: str
    image: str
    quantity: int
    selected: bool
    unit_price_fen: int
    list_price_fen: int
    available: int | None  # None for drop-shipped SKUs (the supplier holds the stock)
    on_sale: bool

    @property
    def amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity


def _customer_id(actor: Actor, customer_id: int | None = None) -> int:
    if actor.kind == "customer" and actor.customer_id:
        return actor.customer_id
    if actor.is_system and customer_id:
        return customer_id
    raise PermissionDenied(_("Only shoppers have a cart."))


def cart_lines(actor: Actor) -> list[CartLine]:
    customer_id = _customer_id(actor)
    items = list(
        CartItem.objects.filter(customer_id=customer_id)
        .select_related("sku__product")
        .prefetch_related("sku__product__images")
    )
    stocked = [i.sku_id for i in items if not i.sku.is_drop_ship]
    available = available_by_sku(stocked) if stocked else {}
    lines = []
    for item in items:
        sku, product = item.sku, item.sku.product
        images = list(product.images.all())
        lines.append(
            CartLine(
                sku_id=sku.pk,
                sku_code=sku.code,
                product_id=product.pk,
                title=product.title,
                spec_text=sku.spec_text,
                image=images[0].file.url if images else "",
                quantity=item.quantity,
                selected=item.selected,
                unit_price_fen=sku.price_fen,
                list_price_fen=sku.list_price_fen,
                available=None if sku.is_drop_ship else available.get(sku.pk, 0),
                on_sale=sku.is_active and product.status == ProductStatus.ON_SHELF,
            )
        )
    return lines


def _sellable_sku(sku_id: int) -> Sku:
    sku = Sku.objects.select_related("product").filter(pk=sku_id).first()
    if sku is None:
        raise NotFound(_("This product does not exist."))
    if not sku.is_active or sku.product.status != ProductStatus.ON_SHELF:
        raise Conflict(_("This product is not on sale."), code="not_on_sale")
    return sku


def _check_quantity(quantity: int) -> None:
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise ValidationFailed(
            _("Choose between 1 and %(max)s.") % {"max": MAX_QUANTITY},
            fields={"quantity": _("out of range")},
        )


def add_to_cart(actor: Actor, sku_id: int, quantity: int = 1) -> CartItem:
    """Put a SKU in the cart, or add to its quantity if it is already there."""
    customer_id = _customer_id(actor)
    _check_quantity(quantity)
    _sellable_sku(sku_id)
    with transaction.atomic():
        updated = CartItem.objects.filter(customer_id=customer_id, sku_id=sku_id).update(
            quantity=F("quantity") + quantity, selected=True
        )
        if not updated:
            if CartItem.objects.filter(customer_id=customer_id).count() >= MAX_CART_ITEMS:
                raise Conflict(
                    _("Your cart is full; check out or remove something first."),
                    code="cart_full",
                )
            try:
                with transaction.atomic():
                    CartItem.objects.create(
                        customer_id=customer_id, sku_id=sku_id, quantity=quantity
                    )
            except IntegrityError:  # added twice at once: count the second as an increase
                CartItem.objects.filter(customer_id=customer_id, sku_id=sku_id).update(
                    quantity=F("quantity") + quantity
                )
        item = CartItem.objects.get(customer_id=customer_id, sku_id=sku_id)
        if item.quantity > MAX_QUANTITY:
            item.quantity = MAX_QUANTITY
            item.save(update_fields=["quantity", "updated_at"])
    return item


def set_cart_quantity(actor: Actor, sku_id: int, quantity: int) -> None:
    """Change a cart line's quantity; zero removes it."""
    customer_id = _customer_id(actor)
    if quantity == 0:
        CartItem.objects.filter(customer_id=customer_id, sku_id=sku_id).delete()
        return
    _check_quantity(quantity)
    if not CartItem.objects.filter(customer_id=customer_id, sku_id=sku_id).update(
        quantity=quantity
    ):
        raise NotFound(_("That item is not in your cart."))


def select_cart_items(actor: Actor, sku_ids: list[int], selected: bool) -> int:
    customer_id = _customer_id(actor)
    return CartItem.objects.filter(customer_id=customer_id, sku_id__in=sku_ids).update(
        selected=selected
    )


def remove_from_cart(actor: Actor, sku_ids: list[int]) -> int:
    customer_id = _customer_id(actor)
    deleted, _detail = CartItem.objects.filter(customer_id=customer_id, sku_id__in=sku_ids).delete()
    return deleted


def selected_items(actor: Actor) -> list[tuple[int, int]]:
    """(sku_id, quantity) of the selected cart lines, for checkout."""
    customer_id = _customer_id(actor)
    return list(
        CartItem.objects.filter(customer_id=customer_id, selected=True)
        .order_by("created_at", "id")
        .values_list("sku_id", "quantity")
    )


def cart_size(actor: Actor) -> int:
    """Units in the shopper's cart (the mall's tab-bar badge); 0 for anyone else."""
    if actor.kind != "customer" or not actor.customer_id:
        return 0
    from django.db.models import Sum

    total = CartItem.objects.filter(customer_id=actor.customer_id).aggregate(n=Sum("quantity"))
    return total["n"] or 0
