"""Getting paid orders to the shopper: shipping (partly or fully), store pickup, delivery,
confirmation of receipt, closing after the after-sales window, and supplier purchase orders for
drop-shipped lines (一件代发)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog import stock
from siyu.catalog.models import Supplier
from siyu.core import audit, events
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed

from ..events import OrderClosed, OrderCompleted, OrderDelivered, OrderShipped
from ..models import (
    AfterSaleKind,
    AfterSaleLine,
    Order,
    OrderLine,
    OrderStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    PurchaseOrderStatusChange,
    Shipment,
    ShipmentLine,
)
from ..states import AFTER_SALE_OPEN, SHIPPABLE, transition_order, transition_purchase_order
from .common import check_order_access, lock_order


def _held_for_refund(lines: list[OrderLine]) -> dict[int, int]:
    """Unshipped units that an open refund-only case is asking money back for: they must not be
    shipped while the case is open."""
    rows = (
        AfterSaleLine.objects.filter(
            line_id__in=[ln.pk for ln in lines],
            after_sale__kind=AfterSaleKind.REFUND_ONLY,
            after_sale__status__in=AFTER_SALE_OPEN,
        )
        .values("line_id")
        .annotate(units=Sum("quantity"))
    )
    held = {r["line_id"]: r["units"] for r in rows}
    return {ln.pk: min(ln.to_ship, held.get(ln.pk, 0)) for ln in lines}


def _refuse_held(order: Order) -> None:
    if order.fulfilment_hold:
        raise Conflict(
            _("Order %(number)s is on hold (%(hold)s) and cannot ship yet.")
            % {"number": order.number, "hold": order.fulfilment_hold},
            code="on_hold",
            fields={"fulfilment_hold": order.fulfilment_hold},
        )


def release_fulfilment_hold(order_id: int, *, hold: str, actor: Actor) -> bool:
    """Let a held order ship: the app that set `hold` at placement (a group buy that succeeded)
    releases it. Idempotent: returns False when the order is not under this hold (released
    already, or never held). A paid order's drop-ship lines become purchase orders now."""
    if not actor.is_system:
        authorize(actor, "orders.ship")
    with transaction.atomic():
        order = lock_order(order_id)
        if not hold or order.fulfilment_hold != hold:
            return False
        order.fulfilment_hold = ""
        order.save(update_fields=["fulfilment_hold", "updated_at"])
        if order.status == OrderStatus.PAID and not order.purchase_orders.exists():
            create_purchase_orders(order, actor=actor)
        audit.record(
            actor,
            "orders.hold_released",
            obj=order,
            summary=_("Fulfilment hold %(hold)s released") % {"hold": hold},
        )
    return True


def shippable_quantities(order: Order) -> dict[int, int]:
    """Units of each line that may ship now (none while the order is on a fulfilment hold)."""
    lines = list(order.lines.all())
    if order.fulfilment_hold:
        return {ln.pk: 0 for ln in lines}
    held = _held_for_refund(lines)
    return {ln.pk: max(0, ln.to_ship - held.get(ln.pk, 0)) for ln in lines}


def ship(
    order_id: int,
    *,
    actor: Actor,
    carrier: str,
    tracking_no: str,
    quantities: dict[int, int] | None = None,
) -> Shipment:
    """Ship some units (or, without `quantities`, everything of merchant stock still to ship)
    with one tracking number. The order becomes partially shipped or shipped."""
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.ship")
        return _ship(
            order, actor=actor, carrier=carrier, tracking_no=tracking_no, quantities=quantities
        )


def _ship(
    order: Order,
    *,
    actor: Actor,
    carrier: str,
    tracking_no: str,
    quantities: dict[int, int] | None,
    purchase_order: PurchaseOrder | None = None,
) -> Shipment:
    if order.status not in SHIPPABLE:
        raise Conflict(
            _("Order %(number)s cannot ship while it is %(status)s.")
            % {"number": order.number, "status": order.get_status_display()},
            code="not_shippable",
        )
    if order.is_pickup:
        raise Conflict(_("Pickup orders are handed over at the store."), code="pickup_order")
    _refuse_held(order)
    carrier, tracking_no = (carrier or "").strip(), (tracking_no or "").strip()
    if not carrier or not tracking_no:
        raise ValidationFailed(
            _("Enter the carrier and the tracking number."),
            fields={
                k: _("This field is required.")
                for k, v in (("carrier", carrier), ("tracking_no", tracking_no))
                if not v
            },
        )
    lines = {ln.pk: ln for ln in order.lines.all()}
    allowed = shippable_quantities(order)
    if quantities is None:
        quantities = {pk: allowed[pk] for pk, ln in lines.items() if not ln.is_drop_ship}
    quantities = {int(k): int(v) for k, v in quantities.items() if int(v) > 0}
    errors = {}
    for pk, qty in quantities.items():
        if pk not in lines:
            errors[str(pk)] = _("not in this order")
        elif qty > allowed[pk]:
            errors[str(pk)] = _("at most %(n)s can ship") % {"n": allowed[pk]}
    if errors:
        raise ValidationFailed(_("Check the quantities to ship."), fields=errors)
    if not quantities:
        raise Conflict(_("Nothing left to ship."), code="nothing_to_ship")
    shipment = Shipment.objects.create(
        order=order,
        carrier=carrier[:40],
        tracking_no=tracking_no[:64],
        purchase_order=purchase_order,
        shipped_by=actor.label[:150],
    )
    ShipmentLine.objects.bulk_create(
        [ShipmentLine(shipment=shipment, line_id=pk, quantity=q) for pk, q in quantities.items()]
    )
    sold = []
    for pk, qty in sorted(quantities.items()):
        line = lines[pk]
        OrderLine.objects.filter(pk=pk).update(shipped_quantity=F("shipped_quantity") + qty)
        line.shipped_quantity += qty
        if line.location_id is not None:
            sold.append(
                stock.StockChange(
                    line.sku_id,
                    line.location_id,
                    qty,
                    key=f"sale:{shipment.pk}:{pk}",
                    order_id=order.pk,
                )
            )
    stock.sell(sold, actor_label=actor.label)
    fully = _after_shipping_change(order, lines.values(), actor=actor, note=tracking_no)
    _sync_purchase_orders(order, lines.values(), actor=actor, carrier=carrier, tracking=tracking_no)
    events.publish(OrderShipped(order.pk, order.customer_id, fully=fully))
    return shipment


def _after_shipping_change(order: Order, lines, *, actor: Actor, note: str = "") -> bool:
    """Move a paid order to partially shipped / shipped when its lines say so; True if fully."""
    lines = list(lines)
    shipped_any = any(ln.shipped_quantity for ln in lines)
    remaining = sum(ln.to_ship for ln in lines)
    if not shipped_any:
        return False
    target = OrderStatus.SHIPPED if remaining == 0 else OrderStatus.PARTIALLY_SHIPPED
    if order.status != target and order.status in SHIPPABLE:
        transition_order(order, target, actor=actor, note=note)
    return remaining == 0


def hand_over_pickup(order_id: int, *, actor: Actor, pickup_code: str) -> Order:
    """The shopper collected a pickup order at the store: the clerk checks the pickup code."""
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.ship")
        if not order.is_pickup:
            raise Conflict(_("This order is delivered, not picked up."), code="not_pickup")
        if order.status != OrderStatus.PAID:
            raise Conflict(_("Only a paid pickup order can be handed over."), code="not_shippable")
        _refuse_held(order)
        if (pickup_code or "").strip() != order.pickup_code:
            raise ValidationFailed(
                _("The pickup code does not match."), fields={"pickup_code": _("wrong code")}
            )
        lines = list(order.lines.all())
        allowed = shippable_quantities(order)
        shipment = Shipment.objects.create(
            order=order, carrier=_("Store pickup"), shipped_by=actor.label[:150]
        )
        sold = []
        for line in lines:
            qty = allowed[line.pk]
            if qty <= 0:
                continue
            ShipmentLine.objects.create(shipment=shipment, line=line, quantity=qty)
            OrderLine.objects.filter(pk=line.pk).update(
                shipped_quantity=F("shipped_quantity") + qty
            )
            if line.location_id is not None:
                sold.append(
                    stock.StockChange(
                        line.sku_id,
                        line.location_id,
                        qty,
                        key=f"sale:{shipment.pk}:{line.pk}",
                        order_id=order.pk,
                    )
                )
        stock.sell(sold, actor_label=actor.label)
        order.shipped_at = timezone.now()
        transition_order(
            order,
            OrderStatus.DELIVERED,
            actor=actor,
            note=_("Picked up at the store"),
            update_fields=("shipped_at",),
        )
        events.publish(OrderShipped(order.pk, order.customer_id, fully=True))
        events.publish(OrderDelivered(order.pk, order.customer_id))
    return order


def mark_delivered(order_id: int, *, actor: Actor, note: str = "") -> Order:
    """The carrier delivered a shipped order."""
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.ship")
        transition_order(order, OrderStatus.DELIVERED, actor=actor, note=note)
        events.publish(OrderDelivered(order.pk, order.customer_id))
    return order


def confirm_receipt(order_id: int, *, actor: Actor) -> Order:
    """The shopper confirms they received the goods (or the system does after the confirmation
    period): the order is completed and the after-sales window starts."""
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.ship")
        if order.status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            raise Conflict(
                _("Only a shipped order can be confirmed as received."), code="not_shipped"
            )
        transition_order(order, OrderStatus.COMPLETED, actor=actor)
        events.publish(OrderCompleted(order.pk, order.customer_id))
    return order


def auto_confirm_due(now: datetime | None = None, limit: int = 500) -> int:
    """Complete shipped/delivered orders whose confirmation period ran out."""
    now = now or timezone.now()
    due = now - timedelta(days=settings.SIYU_AUTO_CONFIRM_DAYS)
    ids = list(
        Order.objects.filter(
            status__in=(OrderStatus.SHIPPED, OrderStatus.DELIVERED), shipped_at__lte=due
        )
        .order_by("shipped_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    system = Actor.system("auto-confirm")
    for pk in ids:
        with transaction.atomic():
            order = lock_order(pk)
            if order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
                transition_order(
                    order, OrderStatus.COMPLETED, actor=system, note=_("Confirmed automatically")
                )
                events.publish(OrderCompleted(order.pk, order.customer_id))
                done += 1
    return done


def close_due(now: datetime | None = None, limit: int = 500) -> int:
    """Close completed orders whose after-sales window ended with no case still open."""
    now = now or timezone.now()
    due = now - timedelta(days=settings.SIYU_AFTER_SALES_DAYS)
    ids = list(
        Order.objects.filter(status=OrderStatus.COMPLETED, completed_at__lte=due)
        .exclude(after_sales__status__in=AFTER_SALE_OPEN)
        .order_by("completed_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    system = Actor.system("after-sales-window")
    for pk in ids:
        with transaction.atomic():
            order = lock_order(pk)
            if order.status != OrderStatus.COMPLETED:
                continue
            if order.after_sales.filter(status__in=AFTER_SALE_OPEN).exists():
                continue
            transition_order(order, OrderStatus.CLOSED, actor=system)
            events.publish(OrderClosed(order.pk, order.customer_id))
            done += 1
    return done


# --- purchase orders for drop-shipped lines (一件代发) ----------------------------------------


def create_purchase_orders(order: Order, *, actor: Actor) -> list[PurchaseOrder]:
    """One purchase order per supplier for a paid order's drop-ship lines (inside mark_paid)."""
    lines = [ln for ln in order.lines.all() if ln.is_drop_ship and ln.supplier_id]
    if not lines:
        return []
    by_supplier: dict[int, list[OrderLine]] = defaultdict(list)
    for line in lines:
        by_supplier[line.supplier_id].append(line)
    created = []
    for n, (supplier_id, supplier_lines) in enumerate(sorted(by_supplier.items()), start=1):
        po = PurchaseOrder.objects.create(
            number=f"PO{order.number}-{n}",
            supplier_id=supplier_id,
            order=order,
            cost_fen=sum(ln.cost_fen for ln in supplier_lines),
        )
        PurchaseOrderLine.objects.bulk_create(
            [
                PurchaseOrderLine(
                    purchase_order=po, line=ln, quantity=ln.quantity, cost_fen=ln.cost_fen
                )
                for ln in supplier_lines
            ]
        )
        PurchaseOrderStatusChange.objects.create(
            purchase_order=po,
            to_status=PurchaseOrderStatus.PENDING,
            actor_kind=actor.kind,
            actor_label=actor.label[:150],
            note=_("Order paid"),
        )
        created.append(po)
    return created


def _sync_purchase_orders(order: Order, lines, *, actor: Actor, carrier="", tracking="") -> None:
    """Mark purchase orders shipped when all their lines shipped, cancelled when none can."""
    by_id = {ln.pk: ln for ln in lines}
    for po in order.purchase_orders.filter(
        status__in=(PurchaseOrderStatus.PENDING, PurchaseOrderStatus.SENT)
    ).prefetch_related("lines"):
        po_lines = [by_id.get(pl.line_id) for pl in po.lines.all()]
        po_lines = [ln for ln in po_lines if ln is not None]
        if not po_lines or any(ln.to_ship for ln in po_lines):
            continue
        if any(ln.shipped_quantity for ln in po_lines):
            po.shipped_at = timezone.now()
            po.carrier = po.carrier or carrier[:40]
            po.tracking_no = po.tracking_no or tracking[:64]
            transition_purchase_order(
                po,
                PurchaseOrderStatus.SHIPPED,
                actor=actor,
                note=tracking,
                update_fields=("shipped_at", "carrier", "tracking_no"),
            )
        else:
            transition_purchase_order(
                po, PurchaseOrderStatus.CANCELLED, actor=actor, note=_("Refunded before shipping")
            )


def sync_purchase_orders(order: Order, *, actor: Actor) -> None:
    _sync_purchase_orders(order, order.lines.all(), actor=actor)


def purchase_orders_for_staff(actor: Actor):
    authorize(actor, "orders.purchase_orders")
    return PurchaseOrder.objects.select_related("supplier", "order")


EXPORT_COLUMNS = [
    "purchase_order",
    "order_number",
    "paid_at",
    "sku_code",
    "product",
    "spec",
    "quantity",
    "unit_cost_yuan",
    "receiver_name",
    "receiver_phone",
    "province",
    "city",
    "district",
    "address",
    "buyer_note",
    "carrier",
    "tracking_no",
]


def export_purchase_orders(
    supplier_id: int, *, actor: Actor, include_sent: bool = False
) -> tuple[str, str, int]:
    """CSV of a supplier's purchase orders to ship (with the shoppers' addresses), one row per
    line; the ones still "to send" become "sent". Returns (filename, csv text, count). The last two
    columns are left empty for the supplier to fill in and send back (see import_tracking)."""
    authorize(actor, "orders.purchase_orders")
    supplier = Supplier.objects.filter(pk=supplier_id).first()
    if supplier is None:
        raise NotFound(_("Not found."))
    statuses = [PurchaseOrderStatus.PENDING]
    if include_sent:
        statuses.append(PurchaseOrderStatus.SENT)
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 CSV correctly only with a BOM
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    with transaction.atomic():
        pos = list(
            PurchaseOrder.objects.select_for_update()
            .filter(supplier=supplier, status__in=statuses)
            .order_by("id")
        )
        lines = (
            PurchaseOrderLine.objects.filter(purchase_order__in=pos)
            .select_related("purchase_order__order", "line__sku")
            .order_by("purchase_order_id", "line__line_no")
        )
        for pl in lines:
            order, line = pl.purchase_order.order, pl.line
            writer.writerow(
                [
                    pl.purchase_order.number,
                    order.number,
                    timezone.localtime(order.paid_at).strftime("%Y-%m-%d %H:%M")
                    if order.paid_at
                    else "",
                    line.external_sku,
                    line.product_title,
                    line.spec_text,
                    pl.quantity,
                    f"{pl.cost_fen / max(1, pl.quantity) / 100:.2f}",
                    order.receiver_name,
                    order.receiver_phone,
                    order.receiver_province,
                    order.receiver_city,
                    order.receiver_district,
                    order.receiver_address,
                    order.buyer_note,
                    "",
                    "",
                ]
            )
        now = timezone.now()
        for po in pos:
            if po.status == PurchaseOrderStatus.PENDING:
                po.sent_at = now
                transition_purchase_order(
                    po, PurchaseOrderStatus.SENT, actor=actor, update_fields=("sent_at",)
                )
        audit.record(
            actor,
            "orders.purchase_orders_exported",
            obj=supplier,
            summary=_("%(n)s purchase orders with shoppers' addresses") % {"n": len(pos)},
            data={"purchase_orders": [po.number for po in pos]},
        )
    filename = f"purchase-orders-{supplier.code}-{timezone.localtime():%Y%m%d-%H%M}.csv"
    return filename, buffer.getvalue(), len(pos)


@dataclass
class TrackingImport:
    shipped: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def ship_purchase_order(
    number: str, *, actor: Actor, carrier: str, tracking_no: str
) -> tuple[PurchaseOrder, bool]:
    """The supplier shipped a purchase order: its order lines ship with that tracking number.
    Importing the same tracking number again changes nothing. Returns (po, changed)."""
    authorize(actor, "orders.purchase_orders")
    order_id = (
        PurchaseOrder.objects.filter(number=number).values_list("order_id", flat=True).first()
    )
    if order_id is None:
        raise NotFound(_("No purchase order %(number)s.") % {"number": number})
    with transaction.atomic():
        order = lock_order(order_id)
        po = PurchaseOrder.objects.select_for_update().get(number=number)
        if po.status == PurchaseOrderStatus.SHIPPED:
            if po.tracking_no == tracking_no.strip():
                return po, False
            raise Conflict(
                _("Already shipped with tracking number %(no)s.") % {"no": po.tracking_no},
                code="already_shipped",
            )
        if po.status == PurchaseOrderStatus.CANCELLED:
            raise Conflict(_("This purchase order was cancelled."), code="cancelled")
        allowed = shippable_quantities(order)
        quantities = {
            pl.line_id: allowed.get(pl.line_id, 0)
            for pl in po.lines.all()
            if allowed.get(pl.line_id, 0) > 0
        }
        _ship(
            order,
            actor=actor,
            carrier=carrier,
            tracking_no=tracking_no,
            quantities=quantities,
            purchase_order=po,
        )
        po.refresh_from_db()
    return po, True


def import_tracking(upload, *, actor: Actor) -> TrackingImport:
    """Read a supplier's CSV back (the export with carrier and tracking_no filled in, or any CSV
    with purchase_order, carrier, tracking_no columns) and ship each purchase order once."""
    authorize(actor, "orders.purchase_orders")
    raw = upload.read()
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # Excel in China saves CSV as GBK
            text = raw.decode("gb18030", errors="replace")
    else:
        text = raw
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    needed = {"purchase_order", "carrier", "tracking_no"}
    if not reader.fieldnames or not needed <= {h.strip() for h in reader.fieldnames}:
        raise ValidationFailed(
            _("The file needs the columns purchase_order, carrier and tracking_no."),
            fields={"file": _("missing columns")},
        )
    result = TrackingImport()
    seen: set[str] = set()
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        number = row.get("purchase_order", "")
        if not number or number in seen:
            continue  # one row per line: a purchase order ships once
        if not row.get("tracking_no"):
            continue  # not shipped yet
        seen.add(number)
        try:
            _po, changed = ship_purchase_order(
                number, actor=actor, carrier=row.get("carrier", ""), tracking_no=row["tracking_no"]
            )
        except (Conflict, NotFound, ValidationFailed) as exc:
            result.errors.append((n, f"{number}: {exc.message}"))
            continue
        (result.shipped if changed else result.unchanged).append(number)
    audit.record(
        actor,
        "orders.tracking_imported",
        object_type="orders.purchaseorder",
        summary=_("%(n)s purchase orders shipped") % {"n": len(result.shipped)},
        data={"shipped": result.shipped, "errors": result.errors[:50]},
    )
    return result
