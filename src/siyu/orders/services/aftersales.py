"""After-sales (售后): refund only, or return and refund, for some units of some lines.

A shopper (or staff for them) opens a case; an operator approves or rejects it. Approving a
refund-only case — or receiving the returned goods of a return case — publishes RefundRequested
with the case's stable `refund_key`; the payments app refunds and answers with RefundSucceeded,
which lands in `complete_refund`: the lines and order record the refund, OrderLineRefunded is
published per line, unshipped units go back to stock, and a fully refunded order becomes refunded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog import stock
from siyu.core import audit, events
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed

from ..errors import RefundMismatch
from ..events import AfterSaleRequested, OrderLineRefunded, RefundRequested
from ..models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleReason,
    AfterSaleStatus,
    AfterSaleStatusChange,
    Order,
    OrderLine,
    OrderStatus,
)
from ..states import (
    AFTER_SALE_ACTIVE,
    AFTER_SALES_OPEN,
    transition_after_sale,
    transition_order,
)
from .common import check_order_access, lock_order
from .fulfilment import _after_shipping_change, sync_purchase_orders

log = logging.getLogger(__name__)
A = AfterSaleStatus


@dataclass(frozen=True)
class Claim:
    """What may still be claimed on a line: units and money not yet in another case, and how many
    shipped units may still be sent back."""

    line_id: int
    quantity: int
    amount_fen: int
    shipped: int
    returnable: int


def claimable(order: Order) -> dict[int, Claim]:
    lines = list(order.lines.all())
    taken: dict[int, list[int]] = {}
    for row in (
        AfterSaleLine.objects.filter(line__order=order, after_sale__status__in=AFTER_SALE_ACTIVE)
        .values("line_id", "after_sale__kind")
        .annotate(units=Sum("quantity"), money=Sum("amount_fen"))
    ):
        units, money, returns = taken.setdefault(row["line_id"], [0, 0, 0])
        returns += row["units"] if row["after_sale__kind"] == AfterSaleKind.RETURN_REFUND else 0
        taken[row["line_id"]] = [units + row["units"], money + row["money"], returns]
    out = {}
    for ln in lines:
        units, money, returns = taken.get(ln.pk, (0, 0, 0))
        free = max(0, ln.quantity - units)
        out[ln.pk] = Claim(
            ln.pk,
            free,
            max(0, (ln.paid_fen or 0) - money),
            ln.shipped_quantity,
            min(free, max(0, ln.shipped_quantity - returns)),
        )
    return out


def _line_amount(line: OrderLine, claim: Claim, quantity: int) -> int:
    """The refund for `quantity` units: their share of what the line cost; the last units take
    whatever is left so the line refunds to the fen."""
    if quantity >= claim.quantity:
        return claim.amount_fen
    return min(claim.amount_fen, (line.paid_fen or 0) * quantity // line.quantity)


def _refund_key(order: Order) -> str:
    n = AfterSale.objects.filter(order=order).count() + 1
    return f"RF{order.number}-{n}"


def request_after_sale(
    order_id: int,
    *,
    actor: Actor,
    kind: str,
    quantities: dict[int, int],
    reason: str,
    description: str = "",
    amounts: dict[int, int] | None = None,
) -> AfterSale:
    """Open a case for some units of some lines. Staff (orders.refund) may set a lower amount per
    line (a partial refund); shoppers always ask for the units' full share."""
    if kind not in AfterSaleKind.values:
        raise ValidationFailed(fields={"kind": _("Choose refund only or return and refund.")})
    if reason not in AfterSaleReason.values:
        raise ValidationFailed(fields={"reason": _("Choose a reason.")})
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.refund")
        if order.status not in AFTER_SALES_OPEN:
            raise Conflict(
                _("After-sales is not available for this order (%(status)s).")
                % {"status": order.get_status_display()},
                code="after_sales_closed",
            )
        lines = {ln.pk: ln for ln in order.lines.all()}
        claims = claimable(order)
        quantities = {int(k): int(v) for k, v in quantities.items() if int(v) > 0}
        if not quantities:
            raise ValidationFailed(
                _("Choose what to refund."), fields={"quantities": _("nothing chosen")}
            )
        errors = {}
        amounts_out = {}
        for pk, qty in quantities.items():
            line, claim = lines.get(pk), claims.get(pk)
            if line is None:
                errors[str(pk)] = _("not in this order")
                continue
            if qty > claim.quantity:
                errors[str(pk)] = _("at most %(n)s") % {"n": claim.quantity}
                continue
            if kind == AfterSaleKind.RETURN_REFUND and qty > claim.returnable:
                errors[str(pk)] = _("only shipped units can be returned (at most %(n)s)") % {
                    "n": claim.returnable
                }
                continue
            full = _line_amount(line, claim, qty)
            wanted = full
            if amounts and pk in amounts and actor.kind != "customer":
                wanted = int(amounts[pk])
                if wanted < 0 or wanted > full:
                    errors[str(pk)] = _("between 0 and %(max)s fen") % {"max": full}
                    continue
            amounts_out[pk] = wanted
        if errors:
            raise ValidationFailed(_("Check the items and quantities."), fields=errors)
        shipping = _shipping_share(order, claims, quantities)
        case = AfterSale.objects.create(
            number=_refund_key(order),
            order=order,
            kind=kind,
            reason=reason,
            description=(description or "").strip()[:2000],
            amount_fen=sum(amounts_out.values()) + shipping,
            shipping_fen=shipping,
            refund_key="",
            requested_by=actor.label[:150],
        )
        case.refund_key = case.number
        case.save(update_fields=["refund_key"])
        AfterSaleLine.objects.bulk_create(
            [
                AfterSaleLine(after_sale=case, line_id=pk, quantity=q, amount_fen=amounts_out[pk])
                for pk, q in quantities.items()
            ]
        )
        AfterSaleStatusChange.objects.create(
            after_sale=case,
            to_status=A.REQUESTED,
            actor_kind=actor.kind,
            actor_id=actor.customer_id if actor.kind == "customer" else actor.user_id,
            actor_label=actor.label[:150],
            note=case.get_reason_display(),
        )
        events.publish(AfterSaleRequested(order.pk, order.customer_id, case.pk, case.amount_fen))
    return case


def _shipping_share(order: Order, claims: dict[int, Claim], quantities: dict[int, int]) -> int:
    """Delivery is refunded with the case that takes back the last units when nothing shipped."""
    if order.shipping_fen <= 0 or any(c.shipped for c in claims.values()):
        return 0
    takes_all = all(quantities.get(pk, 0) >= c.quantity for pk, c in claims.items())
    already = AfterSale.objects.filter(
        order=order, status__in=AFTER_SALE_ACTIVE, shipping_fen__gt=0
    ).exists()
    return order.shipping_fen if takes_all and not already else 0


def _lock_case(case_id: int) -> tuple[Order, AfterSale]:
    """Lock the order first, then the case (the same order everywhere, so no deadlock)."""
    order_id = AfterSale.objects.filter(pk=case_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise NotFound(_("Not found."))
    order = lock_order(order_id)
    return order, AfterSale.objects.select_for_update().get(pk=case_id)


def _request_refund(order: Order, case: AfterSale, *, actor: Actor, note: str = "") -> None:
    transition_after_sale(case, A.REFUNDING, actor=actor, note=note)
    events.publish(
        RefundRequested(
            order.pk,
            order.customer_id,
            refund_key=case.refund_key,
            amount_fen=case.amount_fen,
            reason=case.get_reason_display(),
        )
    )


def approve_after_sale(case_id: int, *, actor: Actor, note: str = "") -> AfterSale:
    """Refund only: the refund is requested now. Return and refund: the shopper sends the goods
    back first."""
    with transaction.atomic():
        order, case = _lock_case(case_id)
        check_order_access(actor, order, "orders.refund")
        case.decided_by, case.decided_at = actor.label[:150], timezone.now()
        case.decision_note = (note or "")[:255]
        case.save(update_fields=["decided_by", "decided_at", "decision_note"])
        if case.kind == AfterSaleKind.REFUND_ONLY:
            _request_refund(order, case, actor=actor, note=note)
        else:
            transition_after_sale(case, A.AWAITING_RETURN, actor=actor, note=note)
        audit.record(
            actor,
            "orders.after_sale_approved",
            obj=case,
            summary=f"{case.number} {case.amount_fen}",
        )
    return case


def reject_after_sale(case_id: int, *, actor: Actor, note: str) -> AfterSale:
    if not (note or "").strip():
        raise ValidationFailed(
            _("Tell the shopper why."), fields={"note": _("This field is required.")}
        )
    with transaction.atomic():
        order, case = _lock_case(case_id)
        check_order_access(actor, order, "orders.refund")
        case.decided_by, case.decided_at = actor.label[:150], timezone.now()
        case.decision_note = note[:255]
        case.save(update_fields=["decided_by", "decided_at", "decision_note"])
        transition_after_sale(case, A.REJECTED, actor=actor, note=note)
    return case


def withdraw_after_sale(case_id: int, *, actor: Actor) -> AfterSale:
    """The shopper no longer wants the refund."""
    with transaction.atomic():
        order, case = _lock_case(case_id)
        check_order_access(actor, order, "orders.refund")
        transition_after_sale(case, A.WITHDRAWN, actor=actor)
    return case


def submit_return_tracking(
    case_id: int, *, actor: Actor, carrier: str, tracking_no: str
) -> AfterSale:
    """The shopper sent the goods back."""
    if not (carrier or "").strip() or not (tracking_no or "").strip():
        raise ValidationFailed(
            _("Enter the carrier and the tracking number."),
            fields={"tracking_no": _("This field is required.")},
        )
    with transaction.atomic():
        order, case = _lock_case(case_id)
        check_order_access(actor, order, "orders.refund")
        case.return_carrier, case.return_tracking_no = (
            carrier.strip()[:40],
            tracking_no.strip()[:64],
        )
        transition_after_sale(
            case,
            A.RETURN_SHIPPED,
            actor=actor,
            note=tracking_no,
            update_fields=("return_carrier", "return_tracking_no"),
        )
    return case


def receive_return(
    case_id: int, *, actor: Actor, restock: bool = True, note: str = ""
) -> AfterSale:
    """The returned goods arrived: back on the shelf (unless damaged) and the refund goes out."""
    with transaction.atomic():
        order, case = _lock_case(case_id)
        check_order_access(actor, order, "orders.refund")
        if case.kind != AfterSaleKind.RETURN_REFUND:
            raise Conflict(_("This case has no return."), code="no_return")
        if case.status not in (A.AWAITING_RETURN, A.RETURN_SHIPPED):
            raise Conflict(_("The return was already handled."), code="invalid_transition")
        case.received_at = timezone.now()
        case.save(update_fields=["received_at"])
        returned = []
        for cl in case.lines.select_related("line"):
            line = cl.line
            OrderLine.objects.filter(pk=line.pk).update(
                returned_quantity=F("returned_quantity") + cl.quantity
            )
            if restock and line.location_id is not None:
                returned.append(
                    stock.StockChange(
                        line.sku_id,
                        line.location_id,
                        cl.quantity,
                        key=f"return:{case.pk}:{line.pk}",
                        order_id=order.pk,
                        note=case.number,
                    )
                )
        stock.receive_return(returned, actor_label=actor.label)
        _request_refund(order, case, actor=actor, note=note or _("Return received"))
    return case


def retry_refund(case_id: int, *, actor: Actor) -> AfterSale:
    """Ask the payment provider again after a failed refund (same refund_key: never twice)."""
    with transaction.atomic():
        order, case = _lock_case(case_id)
        check_order_access(actor, order, "orders.refund")
        if case.status != A.REFUND_FAILED:
            raise Conflict(_("Only a failed refund can be retried."), code="invalid_transition")
        _request_refund(order, case, actor=actor, note=_("Retried"))
    return case


def refund_order(
    order_id: int, *, actor: Actor, reason: str = AfterSaleReason.MERCHANT, note: str = ""
) -> AfterSale:
    """Refund everything still refundable of a paid order at once (a group buy that failed, an
    order the merchant cannot fulfil). Approved immediately."""
    with transaction.atomic():
        order = lock_order(order_id)
        check_order_access(actor, order, "orders.refund")
        claims = claimable(order)
        quantities = {pk: c.quantity for pk, c in claims.items() if c.quantity > 0}
        case = request_after_sale(
            order.pk,
            actor=actor,
            kind=AfterSaleKind.REFUND_ONLY,
            quantities=quantities,
            reason=reason,
            description=note,
        )
        return approve_after_sale(case.pk, actor=actor, note=note)


def fail_refund(order_id: int, refund_key: str, reason: str = "") -> AfterSale | None:
    """The provider could not refund (RefundFailed): the case waits for an operator to retry."""
    with transaction.atomic():
        case = AfterSale.objects.filter(refund_key=refund_key, order_id=order_id).first()
        if case is None:
            log.error("refund failure for unknown refund_key %s", refund_key)
            return None
        _order, case = _lock_case(case.pk)
        if case.status != A.REFUNDING:
            return case
        transition_after_sale(
            case, A.REFUND_FAILED, actor=Actor.system("payments"), note=reason[:500]
        )
    return case


def complete_refund(order_id: int, refund_key: str, amount_fen: int) -> AfterSale | None:
    """The provider confirmed the refund (RefundSucceeded). Idempotent per refund_key.

    A key orders never issued is logged and ignored (returns None): it is not an after-sales
    refund, and refusing it would undo the payment provider's confirmation. A confirmed amount
    that differs from the requested one raises RefundMismatch.
    """
    system = Actor.system("payments")
    with transaction.atomic():
        case = AfterSale.objects.filter(refund_key=refund_key).first()
        if case is None or case.order_id != order_id:
            log.error(
                "refund confirmation for %s (order %s) matches no after-sales case; ignored",
                refund_key,
                order_id,
            )
            return None
        order, case = _lock_case(case.pk)
        if case.status == A.REFUNDED:
            return case
        if case.status not in (A.REFUNDING, A.REFUND_FAILED):
            raise RefundMismatch(
                _("Refund %(key)s was not requested.") % {"key": refund_key},
                fields={"status": case.status},
            )
        if amount_fen != case.amount_fen:
            raise RefundMismatch(
                _("Refund %(key)s: %(got)s fen confirmed, %(want)s fen requested.")
                % {"key": refund_key, "got": amount_fen, "want": case.amount_fen}
            )
        case.refunded_at = timezone.now()
        transition_after_sale(case, A.REFUNDED, actor=system, update_fields=("refunded_at",))
        released = []
        case_lines = list(case.lines.select_related("line"))
        for cl in sorted(case_lines, key=lambda c: c.line_id):
            line = cl.line
            unshipped = line.to_ship
            give_back = min(cl.quantity, unshipped) if case.kind == AfterSaleKind.REFUND_ONLY else 0
            OrderLine.objects.filter(pk=line.pk).update(
                refunded_fen=F("refunded_fen") + cl.amount_fen,
                refunded_quantity=F("refunded_quantity") + cl.quantity,
                released_quantity=F("released_quantity") + give_back,
            )
            line.refunded_fen += cl.amount_fen
            line.refunded_quantity += cl.quantity
            line.released_quantity += give_back
            if give_back and line.location_id is not None:
                released.append(
                    stock.StockChange(
                        line.sku_id,
                        line.location_id,
                        give_back,
                        key=f"release:{order.pk}:{line.line_no}:{case.pk}",
                        order_id=order.pk,
                        note=case.number,
                    )
                )
        stock.release(released, actor_label=system.label)
        order.refunded_fen = F("refunded_fen") + amount_fen
        order.save(update_fields=["refunded_fen", "updated_at"])
        order.refresh_from_db()
        for cl in case_lines:
            events.publish(
                OrderLineRefunded(
                    order.pk,
                    order.customer_id,
                    line_id=cl.line_id,
                    amount_fen=cl.amount_fen,
                    quantity=cl.quantity,
                    refund_key=refund_key,
                )
            )
        everything_back = (
            all(ln.refunded_quantity >= ln.quantity for ln in order.lines.all())
            or order.refunded_fen >= order.paid_fen
        )
        if everything_back and order.status != OrderStatus.REFUNDED:
            transition_order(order, OrderStatus.REFUNDED, actor=system, note=case.number)
        else:
            _after_shipping_change(order, order.lines.all(), actor=system, note=case.number)
        sync_purchase_orders(order, actor=system)
    return case


def after_sales_for_staff(actor: Actor):
    authorize(actor, "orders.view")
    from .common import orders_visible_to

    return AfterSale.objects.filter(order__in=orders_visible_to(actor)).select_related(
        "order", "order__customer"
    )
