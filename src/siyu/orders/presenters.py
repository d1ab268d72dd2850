"""How an order looks to whoever asks: shoppers see their own order in full, staff see receivers
masked unless they hold `customers.view_pii`, costs and margins only with `catalog.view_cost`.
Used by the API and the console alike."""

from __future__ import annotations

from siyu.core import crypto
from siyu.core.access import Actor

from .models import Order, OrderStatus
from .services.aftersales import claimable


def _receiver(order: Order, actor: Actor) -> dict:
    full = actor.kind == "customer" or actor.is_system or actor.can("customers.view_pii")
    name, phone, detail = order.receiver_name, order.receiver_phone, order.receiver_address
    if not full:
        name, phone, detail = (
            crypto.mask_name(name),
            crypto.mask_phone(phone),
            crypto.mask_text(detail),
        )
    return {
        "name": name,
        "phone": phone,
        "province": order.receiver_province,
        "city": order.receiver_city,
        "district": order.receiver_district,
        "detail": detail,
    }


def _status_label(status: str) -> str:
    try:
        return str(OrderStatus(status).label)
    except ValueError:
        return status


def order_summary(order: Order, actor: Actor, *, lines=None) -> dict:
    lines = order.lines.all() if lines is None else lines
    first = next(iter(lines), None)
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "status_label": order.get_status_display(),
        "channel": order.channel,
        "platform": order.platform,
        "delivery_method": order.delivery_method,
        "customer_id": order.customer_id,
        "goods_amount_fen": order.goods_amount_fen,
        "discount_fen": order.discount_fen,
        "shipping_fen": order.shipping_fen,
        "payable_fen": order.payable_fen,
        "paid_fen": order.paid_fen,
        "refunded_fen": order.refunded_fen,
        "item_count": sum(ln.quantity for ln in lines),
        "first_item": first.product_title if first else "",
        "placed_at": order.placed_at,
        "paid_at": order.paid_at,
        "payment_deadline": order.payment_deadline,
    }


def order_detail(order: Order, actor: Actor, *, related=None) -> dict:
    """Everything on an order page. Expects lines, history, shipments and after-sales prefetched
    (see `detail_queryset`), or given as `related` (an `OrderRelated` of lists: the order
    placement just wrote, which then needs no reading back)."""
    if related is None:
        order_lines, history = order.lines.all(), order.history.all()
        adjustments, shipments = order.adjustments.all(), order.shipments.all()
        after_sales = order.after_sales.all()
    else:
        order_lines, history = related.lines, related.history
        adjustments, shipments = related.adjustments, related.shipments
        after_sales = related.after_sales
    show_cost = actor.is_system or actor.can("catalog.view_cost")
    is_shopper = actor.kind == "customer"
    claims = claimable(order) if order.paid_fen else {}
    lines = []
    for ln in order_lines:
        claim = claims.get(ln.pk)
        lines.append(
            {
                "id": ln.pk,
                "line_no": ln.line_no,
                "sku_id": ln.sku_id,
                "sku_code": ln.external_sku,
                "title": ln.product_title,
                "spec_text": ln.spec_text,
                "quantity": ln.quantity,
                "unit_price_fen": ln.unit_price_fen,
                "list_price_fen": ln.list_price_fen,
                "amount_fen": ln.amount_fen,
                "discount_fen": ln.discount_fen,
                "payable_fen": ln.payable_fen,
                "paid_fen": ln.paid_fen,
                "refunded_fen": ln.refunded_fen,
                "refunded_quantity": ln.refunded_quantity,
                "shipped_quantity": ln.shipped_quantity,
                "fulfilment": ln.fulfilment,
                "cost_fen": ln.cost_fen if show_cost else None,
                "margin_fen": ln.margin_fen if show_cost else None,
                "refundable_quantity": claim.quantity if claim else 0,
                "returnable_quantity": claim.returnable if claim else 0,
            }
        )
    credited = None
    if not is_shopper:
        credited = {
            "kind": order.credited_kind,
            "id": order.credited_id,
            "user_id": order.credited_user_id,
            "label": str(order.credited_user) if order.credited_user_id else "",
        }
    return {
        **order_summary(order, actor, lines=order_lines),
        "buyer_note": order.buyer_note,
        "receiver": _receiver(order, actor),
        "store_id": order.store_id,
        "store_name": order.store.name if order.store_id else "",
        # the shopper shows it at the store; staff type it in, so they never see it
        "pickup_code": order.pickup_code if is_shopper else "",
        "external_id": order.external_id,
        "cost_fen": order.cost_fen if show_cost else None,
        "margin_fen": order.margin_fen if show_cost else None,
        "transaction_id": "" if is_shopper else order.transaction_id,
        "shipped_at": order.shipped_at,
        "delivered_at": order.delivered_at,
        "completed_at": order.completed_at,
        "cancelled_at": order.cancelled_at,
        "closed_at": order.closed_at,
        "credited": credited,
        "lines": lines,
        "adjustments": [
            {"code": a.code, "label": a.label, "amount_fen": a.amount_fen, "line_id": a.line_id}
            for a in adjustments
        ],
        "history": [
            {
                "from_status": h.from_status,
                "to_status": h.to_status,
                "to_label": _status_label(h.to_status),
                "by": h.actor_kind if is_shopper else h.actor_label,
                "note": h.note,
                "at": h.created_at,
            }
            for h in history
        ],
        "shipments": [
            {
                "id": s.pk,
                "carrier": s.carrier,
                "tracking_no": s.tracking_no,
                "shipped_at": s.shipped_at,
                "lines": [{"line_id": sl.line_id, "quantity": sl.quantity} for sl in s.lines.all()],
            }
            for s in shipments
        ],
        "after_sales": [after_sale_out(c, actor) for c in after_sales],
    }


def after_sale_out(case, actor: Actor) -> dict:
    return {
        "id": case.pk,
        "number": case.number,
        "order_id": case.order_id,
        "kind": case.kind,
        "status": case.status,
        "status_label": case.get_status_display(),
        "reason": case.reason,
        "reason_label": case.get_reason_display(),
        "description": case.description,
        "amount_fen": case.amount_fen,
        "shipping_fen": case.shipping_fen,
        "decision_note": case.decision_note,
        "return_carrier": case.return_carrier,
        "return_tracking_no": case.return_tracking_no,
        "created_at": case.created_at,
        "refunded_at": case.refunded_at,
        "lines": [
            {"line_id": cl.line_id, "quantity": cl.quantity, "amount_fen": cl.amount_fen}
            for cl in case.lines.all()
        ],
    }


def detail_queryset(qs):
    return qs.select_related("store", "credited_user", "customer").prefetch_related(
        "lines",
        "history",
        "adjustments",
        "shipments__lines",
        "after_sales__lines",
    )
