"""Stock operations: reserve, release, sell, return and adjust, each one conditional UPDATE.

Orders call these inside their own transaction. Every change is a single
`UPDATE ... WHERE <still possible> RETURNING` on one (SKU, location) row, so concurrent buyers never
oversell, and the database CHECK on `catalog_stocklevel` (on_hand >= reserved >= 0) is the last
line of defence. Callers touch rows in (sku_id, location) order so two orders never deadlock.
Every change appends a `StockMovement`; movements caused by an order carry a unique `key`, which
makes releasing or selling the same line twice impossible even if a job is retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed

from .models import Location, Sku, StockLevel, StockMovement, StockReason


class OutOfStock(Conflict):
    """There is not enough stock for this order."""

    code = "out_of_stock"


class StockBelowReserved(Conflict):
    """That would leave less stock on hand than is already promised to orders."""

    code = "stock_below_reserved"


@dataclass(frozen=True)
class StockChange:
    """One change to one stock row, caused by an order line (key) or a person (note)."""

    sku_id: int
    location_id: int
    quantity: int
    key: str = ""
    order_id: int | None = None
    note: str = ""


_TABLE = StockLevel._meta.db_table


def _update(
    sku_id: int,
    location_id: int,
    on_hand_delta: int,
    reserved_delta: int,
    guard: str = "",
    guard_param: int | None = None,
) -> tuple[int, int] | None:
    """Apply deltas to one stock row if `guard` still holds; return (on_hand, reserved) after, or
    None when the row is missing or the guard failed. Holds the row lock until commit."""
    sql = (
        f"UPDATE {_TABLE} SET on_hand = on_hand + %s, reserved = reserved + %s, updated_at = %s "
        f"WHERE sku_id = %s AND location_id = %s{guard} RETURNING on_hand, reserved"
    )
    params: list = [on_hand_delta, reserved_delta, timezone.now(), sku_id, location_id]
    if guard:
        params.append(guard_param)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


# what is taken must still be available (on hand and not promised to another order)
_GUARD_AVAILABLE = " AND on_hand - reserved >= %s"
# on hand may not drop below what is promised
_GUARD_COVERS_RESERVED = " AND on_hand + %s >= reserved"


def _movement(
    change: StockChange, reason: str, d_on_hand: int, d_reserved: int, after, actor_label: str
) -> StockMovement:
    return StockMovement(
        sku_id=change.sku_id,
        location_id=change.location_id,
        reason=reason,
        on_hand_delta=d_on_hand,
        reserved_delta=d_reserved,
        on_hand_after=after[0],
        reserved_after=after[1],
        order_id=change.order_id,
        key=change.key,
        note=change.note[:255],
        actor_label=actor_label[:150],
    )


def _sorted(changes: Iterable[StockChange]) -> list[StockChange]:
    return sorted(changes, key=lambda c: (c.sku_id, c.location_id, c.key))


def candidate_locations(
    sku_ids: Iterable[int], *, pickup_store_id: int | None = None
) -> dict[int, list[tuple[int, int]]]:
    """For each SKU, [(location_id, available)] it may be reserved from, best first: the pickup
    store's location for a pickup order, else active locations that ship online by priority."""
    if pickup_store_id is not None:
        where = Q(location__store_id=pickup_store_id, location__is_pickup=True)
    else:
        where = Q(location__ships_online=True)
    rows = (
        StockLevel.objects.filter(where, sku_id__in=list(sku_ids), location__is_active=True)
        .order_by("sku_id", "location__priority", "location_id")
        .values_list("sku_id", "location_id", "on_hand", "reserved")
    )
    found: dict[int, list[tuple[int, int]]] = {}
    for sku_id, location_id, on_hand, reserved in rows:
        found.setdefault(sku_id, []).append((location_id, on_hand - reserved))
    return found


def plan(wanted: dict[int, int], *, pickup_store_id: int | None = None) -> dict[int, list[int]]:
    """Locations to try per SKU, the one expected to have enough first. Raises OutOfStock for
    SKUs that no location can cover (a cheap pre-check; the reservation decides)."""
    candidates = candidate_locations(wanted, pickup_store_id=pickup_store_id)
    plans: dict[int, list[int]] = {}
    short: list[int] = []
    for sku_id, quantity in wanted.items():
        options = candidates.get(sku_id, [])
        enough = [loc for loc, available in options if available >= quantity]
        if not enough:
            short.append(sku_id)
            continue
        plans[sku_id] = enough + [loc for loc, _a in options if loc not in enough]
    if short:
        raise _out_of_stock(short)
    return plans


def _out_of_stock(sku_ids: Sequence[int]) -> OutOfStock:
    codes = dict(Sku.objects.filter(pk__in=sku_ids).values_list("pk", "code"))
    return OutOfStock(
        _("Not enough stock for %(skus)s.")
        % {"skus": ", ".join(codes.get(s, str(s)) for s in sku_ids)},
        fields={codes.get(s, str(s)): _("out of stock") for s in sku_ids},
    )


def reserve(
    requests: Sequence[tuple[StockChange, Sequence[int]]], *, actor_label: str = ""
) -> dict[str, int]:
    """Reserve each request at the first of its candidate locations that still has enough.

    `requests` pairs a change (its location_id is ignored) with the locations to try. Returns the
    location chosen per change key. Raises OutOfStock (and the caller's transaction rolls back)
    when any line cannot be covered. Must run inside a transaction.
    """
    chosen: dict[str, int] = {}
    movements = []
    short = []
    for change, locations in sorted(requests, key=lambda r: (r[0].sku_id, r[0].key)):
        for location_id in locations:
            after = _update(
                change.sku_id, location_id, 0, change.quantity, _GUARD_AVAILABLE, change.quantity
            )
            if after is None:
                continue
            placed = StockChange(
                change.sku_id, location_id, change.quantity, change.key, change.order_id
            )
            movements.append(
                _movement(placed, StockReason.RESERVATION, 0, change.quantity, after, actor_label)
            )
            chosen[change.key] = location_id
            break
        else:
            short.append(change.sku_id)
    if short:
        raise _out_of_stock(short)
    StockMovement.objects.bulk_create(movements)
    return chosen


def release(changes: Iterable[StockChange], *, actor_label: str = "") -> None:
    """Give reserved units back to the available pool (order cancelled, line refunded)."""
    _apply(changes, StockReason.RELEASE, on_hand_sign=0, reserved_sign=-1, actor_label=actor_label)


def sell(changes: Iterable[StockChange], *, actor_label: str = "") -> None:
    """Reserved units left the building (shipped or picked up): on hand and reserved both drop."""
    _apply(changes, StockReason.SALE, on_hand_sign=-1, reserved_sign=-1, actor_label=actor_label)


def receive_return(changes: Iterable[StockChange], *, actor_label: str = "") -> None:
    """Returned goods are back on the shelf."""
    _apply(changes, StockReason.RETURN, on_hand_sign=1, reserved_sign=0, actor_label=actor_label)


def _apply(
    changes: Iterable[StockChange],
    reason: str,
    *,
    on_hand_sign: int,
    reserved_sign: int,
    actor_label: str,
) -> None:
    movements = []
    for change in _sorted(changes):
        if change.quantity <= 0:
            continue
        d_on_hand = on_hand_sign * change.quantity
        d_reserved = reserved_sign * change.quantity
        if reason == StockReason.RETURN:
            _ensure_row(change.sku_id, change.location_id)
        after = _update(change.sku_id, change.location_id, d_on_hand, d_reserved)
        if after is None:
            raise NotFound(
                _("SKU %(sku)s has no stock record at location %(location)s.")
                % {"sku": change.sku_id, "location": change.location_id}
            )
        movements.append(_movement(change, reason, d_on_hand, d_reserved, after, actor_label))
    StockMovement.objects.bulk_create(movements)


def _ensure_row(sku_id: int, location_id: int) -> None:
    StockLevel.objects.get_or_create(sku_id=sku_id, location_id=location_id)


def adjust(sku_id: int, location_id: int, delta: int, *, actor: Actor, note: str) -> StockMovement:
    """A counted correction, goods received, breakage...: on hand changes by `delta`.

    Staff with `catalog.stock` may adjust; store staff only at their own store's location. Taking
    stock below what is reserved for placed orders is refused.
    """
    authorize(actor, "catalog.stock")
    if delta == 0:
        raise ValidationFailed(_("The change cannot be zero."), fields={"delta": _("zero")})
    if not note.strip():
        raise ValidationFailed(
            _("Say why the stock changes."), fields={"note": _("This field is required.")}
        )
    location = Location.objects.filter(pk=location_id).first()
    sku = Sku.objects.filter(pk=sku_id).first()
    if location is None or sku is None:
        raise NotFound(_("Not found."))
    if not actor.sees_all_stores and (
        location.store_id is None or location.store_id != actor.store_id
    ):
        raise NotFound(_("That location is not in your store."))
    if sku.is_drop_ship:
        raise ValidationFailed(
            _("Drop-shipped SKUs have no merchant stock."), fields={"sku": _("drop-ship")}
        )
    with transaction.atomic():
        _ensure_row(sku_id, location_id)
        if delta < 0:
            after = _update(sku_id, location_id, delta, 0, _GUARD_COVERS_RESERVED, delta)
        else:
            after = _update(sku_id, location_id, delta, 0)
        if after is None:
            raise StockBelowReserved(
                _("That would leave less on hand than is already reserved for orders."),
                fields={"delta": str(delta)},
            )
        change = StockChange(sku_id, location_id, abs(delta), note=note)
        movement = _movement(change, StockReason.ADJUSTMENT, delta, 0, after, actor.label)
        movement.save()
        return movement


def available_by_sku(
    sku_ids: Iterable[int], *, pickup_store_id: int | None = None
) -> dict[int, int]:
    """Units shoppers can still buy per SKU (delivery, or pickup at one store)."""
    if pickup_store_id is not None:
        where = Q(location__store_id=pickup_store_id, location__is_pickup=True)
    else:
        where = Q(location__ships_online=True)
    rows = (
        StockLevel.objects.filter(where, sku_id__in=list(sku_ids), location__is_active=True)
        .values("sku_id")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    )
    return {r["sku_id"]: max(0, r["on_hand"] - r["reserved"]) for r in rows}
