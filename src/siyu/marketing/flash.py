"""Flash sales (秒杀) and daily specials: an activity price and a quota per SKU, a per-customer
limit, a start and an end.

Buying goes through the normal checkout (`orders.services.place_order`, channel `flash_sale`)
with `context["flash_sale"]`; the `flash_sale` price adjuster sets the activity price and, in its
`commit` inside the placement transaction, takes the units with two conditional statements:

* the buyer's counter: ``INSERT ... ON CONFLICT DO UPDATE SET quantity = quantity + n WHERE
  quantity + n <= limit`` (no row back → over the limit);
* the quota: ``UPDATE item SET sold = sold + n WHERE sold + n <= quota`` (no row → sold out),
  backed by ``CHECK (sold <= quota)``.

With `REDIS_URL` set, a buyer is first admitted by an atomic Lua script in Redis (quota left and
the buyer's count checked and taken in one step, see `reservations.py`), so the burst of losers
is turned away without touching PostgreSQL; the database statements above still run for the
winners and stay the source of truth. A cancelled or timed-out order gives its units back to the
database and to Redis; a periodic job reconciles Redis with the database.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.orders import services as orders
from siyu.orders.models import Channel

from . import reservations
from .errors import SaleLimitReached, SaleNotLive, SaleSoldOut
from .models import (
    FlashSale,
    FlashSaleBuyer,
    FlashSaleItem,
    FlashSaleReservation,
    ReservationStatus,
    SaleKind,
    SaleStatus,
)

log = logging.getLogger(__name__)


# --- operators --------------------------------------------------------------------------------------


@dataclass
class ItemInput:
    sku_id: int
    price_fen: int
    quota: int


def create_sale(
    actor: Actor,
    *,
    title: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    items: list[ItemInput],
    per_customer_limit: int = 1,
    kind: str = SaleKind.FLASH_SALE,
    publish: bool = False,
) -> FlashSale:
    """Set up a sale. Activity prices must be below the SKU's price; a SKU appears once."""
    from siyu.catalog.models import Sku

    authorize(actor, "marketing.manage")
    errors: dict[str, str] = {}
    if not (title or "").strip():
        errors["title"] = _("This field is required.")
    if kind not in SaleKind.values:
        errors["kind"] = _("Choose flash sale or daily special.")
    if starts_at is None:
        errors["starts_at"] = _("This field is required.")
    if ends_at is None:
        errors["ends_at"] = _("This field is required.")
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = _("The end must be after the start.")
    if not 1 <= (per_customer_limit or 0) <= 99:
        errors["per_customer_limit"] = _("Enter between 1 and 99.")
    if not items:
        errors["items"] = _("Add at least one SKU.")
    skus = {s.pk: s for s in Sku.objects.filter(pk__in=[i.sku_id for i in items])}
    seen: set[int] = set()
    for n, item in enumerate(items):
        sku = skus.get(item.sku_id)
        if sku is None:
            errors[f"items[{n}].sku_id"] = _("No such SKU.")
        elif item.sku_id in seen:
            errors[f"items[{n}].sku_id"] = _("This SKU is already in the sale.")
        elif not 0 < item.price_fen < sku.price_fen:
            errors[f"items[{n}].price_fen"] = _("The activity price must be below %(p)s fen.") % {
                "p": sku.price_fen
            }
        if not 1 <= item.quota <= 1_000_000:
            errors[f"items[{n}].quota"] = _("Enter a quota between 1 and 1,000,000.")
        seen.add(item.sku_id)
    if errors:
        raise ValidationFailed(_("Some fields of the sale are invalid."), fields=errors)
    with transaction.atomic():
        sale = FlashSale.objects.create(
            title=title.strip()[:60],
            kind=kind,
            starts_at=starts_at,
            ends_at=ends_at,
            per_customer_limit=per_customer_limit,
            status=SaleStatus.PUBLISHED if publish else SaleStatus.DRAFT,
            created_by_id=actor.user_id if actor.is_staff else None,
        )
        FlashSaleItem.objects.bulk_create(
            [
                FlashSaleItem(sale=sale, sku_id=i.sku_id, price_fen=i.price_fen, quota=i.quota)
                for i in items
            ]
        )
        audit.record(actor, "marketing.sale_created", obj=sale, data={"title": sale.title})
    return sale


def set_sale_status(actor: Actor, sale_id: int, status: str) -> FlashSale:
    """Publish a draft, or cancel a sale (orders already placed stay; no new ones)."""
    authorize(actor, "marketing.manage")
    if status not in (SaleStatus.PUBLISHED, SaleStatus.CANCELLED):
        raise ValidationFailed(fields={"status": _("Choose published or cancelled.")})
    with transaction.atomic():
        sale = FlashSale.objects.select_for_update().filter(pk=sale_id).first()
        if sale is None:
            raise NotFound(_("No such flash sale."))
        if sale.status == SaleStatus.CANCELLED:
            raise ValidationFailed(fields={"status": _("A cancelled sale stays cancelled.")})
        sale.status = status
        sale.save(update_fields=["status"])
        audit.record(actor, "marketing.sale_status", obj=sale, data={"status": status})
    if reservations.enabled():
        transaction.on_commit(lambda: reservations.prime(sale.pk))
    return sale


def sales_for_staff(actor: Actor) -> QuerySet[FlashSale]:
    authorize(actor, "marketing.view")
    return FlashSale.objects.all()


def get_sale(actor: Actor, sale_id: int) -> FlashSale:
    found = sales_for_staff(actor).filter(pk=sale_id).first()
    if found is None:
        raise NotFound(_("No such flash sale."))
    return found


# --- shoppers ---------------------------------------------------------------------------------------


def storefront_sales(now: datetime | None = None) -> list[FlashSale]:
    """Published sales running now or starting within a day, soonest first, with their items."""
    from datetime import timedelta

    now = now or timezone.now()
    return list(
        FlashSale.objects.filter(
            status=SaleStatus.PUBLISHED, ends_at__gt=now, starts_at__lte=now + timedelta(days=1)
        )
        .prefetch_related("items__sku__product")
        .order_by("starts_at", "id")[:20]
    )


def item_for_sale(item_id: int) -> FlashSaleItem:
    item = (
        FlashSaleItem.objects.select_related("sale", "sku", "sku__product")
        .filter(pk=item_id)
        .first()
    )
    if item is None or item.sale.status != SaleStatus.PUBLISHED:
        raise NotFound(_("No such flash sale item."), fields={"item_id": str(item_id)})
    return item


def bought_in(sale_id: int, customer_id: int) -> int:
    row = FlashSaleBuyer.objects.filter(sale_id=sale_id, customer_id=customer_id).first()
    return row.quantity if row else 0


def buy(
    actor: Actor,
    item_id: int,
    *,
    quantity: int = 1,
    checkout: orders.Checkout,
    idempotency_key: str,
) -> orders.Placed:
    """Place a flash-sale order for one item (the order holds only that SKU, at the activity
    price). Same Idempotency-Key, same order. Raises SaleNotLive, SaleSoldOut, SaleLimitReached
    or the order's own errors (address, stock...)."""
    if actor.kind != "customer" or not actor.customer_id:
        raise PermissionDenied(_("Log in to buy."))
    if not (idempotency_key or "").strip():
        raise ValidationFailed(fields={"idempotency_key": _("This field is required.")})
    item = item_for_sale(item_id)
    sale = item.sale
    if not 1 <= quantity <= sale.per_customer_limit:
        raise ValidationFailed(
            _("Choose between 1 and %(n)s.") % {"n": sale.per_customer_limit},
            fields={"quantity": _("out of range")},
        )
    checkout.items = [(item.sku_id, quantity)]
    checkout.channel = Channel.FLASH_SALE
    checkout.from_cart = False
    checkout.context = {**(checkout.context or {}), "flash_sale": {"item": item.pk}}
    if orders.replayed_order(actor, idempotency_key, _digest(actor, checkout)) is not None:
        return orders.place_order(actor, checkout, idempotency_key=idempotency_key)
    if not sale.is_live():
        raise _not_live(sale)
    # the item row was just read: once the quota is gone, losers are answered without placing
    if item.sold + quantity > item.quota:
        raise sold_out()
    if not reservations.enabled():
        return orders.place_order(actor, checkout, idempotency_key=idempotency_key)

    token = uuid.uuid4().hex
    reservations.reserve(sale, item, actor.customer_id, quantity, token)
    checkout.context["flash_sale"]["token"] = token
    try:
        placed = orders.place_order(actor, checkout, idempotency_key=idempotency_key)
    except BaseException:
        reservations.release_token(sale.pk, item.pk, actor.customer_id, quantity, token)
        raise
    if placed.created:
        reservations.settled(sale.pk, item.pk, actor.customer_id, quantity, token)
    else:  # a concurrent request with the same key won; ours holds nothing in the database
        reservations.release_token(sale.pk, item.pk, actor.customer_id, quantity, token)
    return placed


def _digest(actor: Actor, checkout: orders.Checkout) -> str:
    from siyu.orders.services.checkout import fingerprint

    return fingerprint(actor.customer_id, checkout)


def _not_live(sale: FlashSale) -> SaleNotLive:
    now = timezone.now()
    if sale.status != SaleStatus.PUBLISHED:
        return SaleNotLive(_("This flash sale was cancelled."), fields={"sale": "cancelled"})
    if now < sale.starts_at:
        return SaleNotLive(_("This flash sale has not started yet."), fields={"sale": "upcoming"})
    return SaleNotLive(_("This flash sale has ended."), fields={"sale": "ended"})


def sold_out() -> SaleSoldOut:
    return SaleSoldOut(_("Sold out: every unit of this flash sale is taken."))


def over_limit(limit: int) -> SaleLimitReached:
    return SaleLimitReached(
        _("You can buy at most %(n)s in this flash sale.") % {"n": limit},
        fields={"quantity": _("over the limit")},
    )


# --- inside the placement transaction (the price adjuster's commit) --------------------------------

_BUYER_SQL = """
INSERT INTO marketing_flashsalebuyer (sale_id, customer_id, quantity) VALUES (%s, %s, %s)
ON CONFLICT (sale_id, customer_id) DO UPDATE
SET quantity = marketing_flashsalebuyer.quantity + EXCLUDED.quantity
WHERE marketing_flashsalebuyer.quantity + EXCLUDED.quantity <= %s
RETURNING quantity
"""


def take(item: FlashSaleItem, *, customer_id: int, order_id: int, quantity: int, token: str):
    """Take `quantity` units for `order_id`: the buyer's counter, then the quota (the hot row,
    last, so it is locked only until COMMIT), then the reservation row."""
    sale = item.sale
    with connection.cursor() as cur:
        cur.execute(_BUYER_SQL, [sale.pk, customer_id, quantity, sale.per_customer_limit])
        if cur.fetchone() is None:
            raise over_limit(sale.per_customer_limit)
    taken = FlashSaleItem.objects.filter(pk=item.pk, sold__lte=F("quota") - quantity).update(
        sold=F("sold") + quantity
    )
    if not taken:
        raise sold_out()
    FlashSaleReservation.objects.create(
        item_id=item.pk,
        sale_id=sale.pk,
        customer_id=customer_id,
        order_id=order_id,
        quantity=quantity,
        price_fen=item.price_fen,
        token=token or "",
    )


def give_back(order_id: int) -> int:
    """Return the units an unpaid order held (cancelled or timed out). Idempotent."""
    held = list(
        FlashSaleReservation.objects.select_for_update()
        .filter(order_id=order_id, status=ReservationStatus.HELD)
        .order_by("item_id")
    )
    now = timezone.now()
    for r in held:
        FlashSaleReservation.objects.filter(pk=r.pk).update(
            status=ReservationStatus.RELEASED, released_at=now
        )
        FlashSaleItem.objects.filter(pk=r.item_id).update(sold=F("sold") - r.quantity)
        FlashSaleBuyer.objects.filter(sale_id=r.sale_id, customer_id=r.customer_id).update(
            quantity=F("quantity") - r.quantity
        )
    if held and reservations.enabled():
        released = [(r.sale_id, r.item_id, r.customer_id, r.quantity, r.pk) for r in held]
        transaction.on_commit(lambda: reservations.give_back(released))
    return len(held)


def mark_paid(order_id: int) -> None:
    FlashSaleReservation.objects.filter(order_id=order_id, status=ReservationStatus.HELD).update(
        status=ReservationStatus.PAID
    )


# --- figures ----------------------------------------------------------------------------------------


def sale_figures(sale_ids: list[int]) -> dict[int, dict]:
    """Live figures per sale: units held by unpaid orders, units paid, buyers, GMV (activity
    price × paid units) and cost (the discount off the normal price for paid units)."""
    out = {
        sid: {"held": 0, "paid": 0, "buyers": 0, "gmv_fen": 0, "cost_fen": 0, "quota": 0}
        for sid in sale_ids
    }
    for row in (
        FlashSaleReservation.objects.filter(sale_id__in=sale_ids)
        .values("sale_id")
        .annotate(
            held=Sum("quantity", filter=Q(status=ReservationStatus.HELD)),
            paid=Sum("quantity", filter=Q(status=ReservationStatus.PAID)),
            buyers=Count(
                "customer_id",
                distinct=True,
                filter=~Q(status=ReservationStatus.RELEASED),
            ),
            gmv=Sum(F("quantity") * F("price_fen"), filter=Q(status=ReservationStatus.PAID)),
            cost=Sum(
                F("quantity") * (F("item__sku__price_fen") - F("price_fen")),
                filter=Q(status=ReservationStatus.PAID),
            ),
        )
    ):
        out[row["sale_id"]].update(
            held=row["held"] or 0,
            paid=row["paid"] or 0,
            buyers=row["buyers"] or 0,
            gmv_fen=row["gmv"] or 0,
            cost_fen=row["cost"] or 0,
        )
    for row in (
        FlashSaleItem.objects.filter(sale_id__in=sale_ids)
        .values("sale_id")
        .annotate(q=Sum("quota"))
    ):
        out[row["sale_id"]]["quota"] = row["q"] or 0
    return out
