"""Orders API under /api/v1/orders/.

Staff (token or console session): the order list with filters and keyset pages, order detail,
ship, hand over pickup orders, mark delivered, cancel, refund; the after-sales queue; drop-ship
purchase orders (CSV export, tracking import).

Shoppers (`shop/`, the shopper session cookie through `ShopperAuth`): cart, checkout quote, place
an order with an `Idempotency-Key` header, their orders, cancel, confirm receipt, after-sales.
A shopper only ever reaches their own cart and orders; another shopper's order answers 404.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import File, Header, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.core.api import ErrorBody, actor
from siyu.core.errors import NotFound, ValidationFailed
from siyu.core.pagination import keyset_page
from siyu.mall.sessions import ShopperAuth

from . import presenters, services
from .models import AfterSale, AfterSaleReason, PurchaseOrder

router = Router(tags=["orders"])
shop = Router(tags=["orders (shopper)"], auth=ShopperAuth())

ERRORS = {
    400: ErrorBody,
    401: ErrorBody,
    403: ErrorBody,
    404: ErrorBody,
    409: ErrorBody,
    422: ErrorBody,
}


# --- schemas -----------------------------------------------------------------------------------


class LineOut(Schema):
    id: int
    line_no: int
    sku_id: int | None
    sku_code: str
    title: str
    spec_text: str
    quantity: int
    unit_price_fen: int
    list_price_fen: int
    amount_fen: int
    discount_fen: int
    payable_fen: int
    paid_fen: int
    refunded_fen: int
    refunded_quantity: int
    shipped_quantity: int
    fulfilment: str
    cost_fen: int | None
    margin_fen: int | None
    refundable_quantity: int
    returnable_quantity: int


class ReceiverOut(Schema):
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


class HistoryOut(Schema):
    from_status: str
    to_status: str
    to_label: str
    by: str
    note: str
    at: datetime


class ShipmentLineOut(Schema):
    line_id: int
    quantity: int


class ShipmentOut(Schema):
    id: int
    carrier: str
    tracking_no: str
    shipped_at: datetime
    lines: list[ShipmentLineOut]


class AfterSaleLineOut(Schema):
    line_id: int
    quantity: int
    amount_fen: int


class AfterSaleOut(Schema):
    id: int
    number: str
    order_id: int
    kind: str
    status: str
    status_label: str
    reason: str
    reason_label: str
    description: str
    amount_fen: int
    shipping_fen: int
    decision_note: str
    return_carrier: str
    return_tracking_no: str
    created_at: datetime
    refunded_at: datetime | None
    lines: list[AfterSaleLineOut]


class AdjustmentOut(Schema):
    code: str
    label: str
    amount_fen: int
    line_id: int | None


class CreditedOut(Schema):
    kind: str
    id: int | None
    user_id: int | None
    label: str


class OrderSummaryOut(Schema):
    id: int
    number: str
    status: str
    status_label: str
    channel: str
    platform: str
    delivery_method: str
    customer_id: int
    goods_amount_fen: int
    discount_fen: int
    shipping_fen: int
    payable_fen: int
    paid_fen: int
    refunded_fen: int
    item_count: int
    first_item: str
    placed_at: datetime
    paid_at: datetime | None
    payment_deadline: datetime | None


class OrderOut(OrderSummaryOut):
    buyer_note: str
    receiver: ReceiverOut
    store_id: int | None
    store_name: str
    pickup_code: str
    external_id: str
    cost_fen: int | None
    margin_fen: int | None
    transaction_id: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    closed_at: datetime | None
    credited: CreditedOut | None
    lines: list[LineOut]
    adjustments: list[AdjustmentOut]
    history: list[HistoryOut]
    shipments: list[ShipmentOut]
    after_sales: list[AfterSaleOut]


class OrderPage(Schema):
    items: list[OrderSummaryOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class ShipIn(Schema):
    carrier: str
    tracking_no: str
    # line id -> units; omit to ship every merchant-stock unit still to ship
    quantities: dict[int, int] | None = None


class PickupIn(Schema):
    pickup_code: str


class ReasonIn(Schema):
    reason: str = ""


class StaffRefundIn(Schema):
    quantities: dict[int, int]
    # line id -> fen, to refund less than the units' share (a partial refund)
    amounts: dict[int, int] | None = None
    kind: str = "refund_only"
    reason: str = AfterSaleReason.MERCHANT
    note: str = ""


class NoteIn(Schema):
    note: str = ""


class ReceiveIn(Schema):
    restock: bool = True
    note: str = ""


class AfterSalePage(Schema):
    items: list[AfterSaleOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class PurchaseOrderOut(Schema):
    id: int
    number: str
    supplier_id: int
    supplier_name: str
    order_id: int
    order_number: str
    status: str
    cost_fen: int
    carrier: str
    tracking_no: str
    created_at: datetime
    sent_at: datetime | None
    shipped_at: datetime | None


class PurchaseOrderPage(Schema):
    items: list[PurchaseOrderOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class TrackingImportOut(Schema):
    shipped: list[str]
    unchanged: list[str]
    errors: list[str]


def _page(page, items) -> dict:
    return {
        "items": items,
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


def _detail(order_id: int, who) -> dict:
    order = presenters.detail_queryset(services.orders_visible_to(who)).filter(pk=order_id).first()
    if order is None:
        services.visible_order(who, order_id)  # raises NotFound with the usual message
    return presenters.order_detail(order, who)


# --- staff: orders ----------------------------------------------------------------------------


@router.get("/", response={200: OrderPage, **ERRORS}, summary="Orders in your scope, newest first")
def list_orders(
    request,
    q: str = "",
    status: str = "",
    channel: str = "",
    platform: str = "",
    delivery_method: str = "",
    store_id: int | None = None,
    customer_id: int | None = None,
    placed_from: str = "",
    placed_to: str = "",
    after: int | None = None,
    size: int = 50,
):
    """`q`: order number, platform order id or the buyer's phone. `status` may list several,
    comma-separated. Imported platform orders are included (`channel=platform`, `platform=tmall`)."""
    who = actor(request)
    filters = services.OrderFilters.from_params(
        {
            "q": q,
            "status": status,
            "channel": channel,
            "platform": platform,
            "delivery_method": delivery_method,
            "store_id": store_id,
            "customer_id": customer_id,
            "placed_from": placed_from,
            "placed_to": placed_to,
        }
    )
    page = keyset_page(
        services.filter_orders(who, filters).prefetch_related("lines"), after=after, size=size
    )
    return _page(page, [presenters.order_summary(o, who) for o in page.items])


@router.get("/after-sales", response={200: AfterSalePage, **ERRORS}, summary="After-sales queue")
def list_after_sales(request, status: str = "", after: int | None = None, size: int = 50):
    who = actor(request)
    qs = services.after_sales_for_staff(who).prefetch_related("lines")
    if status:
        qs = qs.filter(status__in=status.split(","))
    page = keyset_page(qs, after=after, size=size)
    return _page(page, [presenters.after_sale_out(c, who) for c in page.items])


def _case(case_id: int, who) -> dict:
    case = services.after_sales_for_staff(who).prefetch_related("lines").get(pk=case_id)
    return presenters.after_sale_out(case, who)


@router.post("/after-sales/{case_id}/approve", response={200: AfterSaleOut, **ERRORS})
def approve_after_sale(request, case_id: int, payload: NoteIn):
    who = actor(request)
    services.approve_after_sale(case_id, actor=who, note=payload.note)
    return _case(case_id, who)


@router.post("/after-sales/{case_id}/reject", response={200: AfterSaleOut, **ERRORS})
def reject_after_sale(request, case_id: int, payload: NoteIn):
    who = actor(request)
    services.reject_after_sale(case_id, actor=who, note=payload.note)
    return _case(case_id, who)


@router.post("/after-sales/{case_id}/receive", response={200: AfterSaleOut, **ERRORS})
def receive_return(request, case_id: int, payload: ReceiveIn):
    """The returned goods arrived (restocked unless `restock` is false); the refund goes out."""
    who = actor(request)
    services.receive_return(case_id, actor=who, restock=payload.restock, note=payload.note)
    return _case(case_id, who)


@router.post("/after-sales/{case_id}/retry", response={200: AfterSaleOut, **ERRORS})
def retry_refund(request, case_id: int):
    who = actor(request)
    services.retry_refund(case_id, actor=who)
    return _case(case_id, who)


@router.get("/purchase-orders", response={200: PurchaseOrderPage, **ERRORS})
def list_purchase_orders(
    request,
    supplier_id: int | None = None,
    status: str = "",
    after: int | None = None,
    size: int = 50,
):
    qs = services.purchase_orders_for_staff(actor(request))
    if supplier_id:
        qs = qs.filter(supplier_id=supplier_id)
    if status:
        qs = qs.filter(status=status)
    page = keyset_page(qs, after=after, size=size)
    return _page(page, [_po_out(po) for po in page.items])


def _po_out(po: PurchaseOrder) -> dict:
    return {
        "id": po.pk,
        "number": po.number,
        "supplier_id": po.supplier_id,
        "supplier_name": po.supplier.name,
        "order_id": po.order_id,
        "order_number": po.order.number,
        "status": po.status,
        "cost_fen": po.cost_fen,
        "carrier": po.carrier,
        "tracking_no": po.tracking_no,
        "created_at": po.created_at,
        "sent_at": po.sent_at,
        "shipped_at": po.shipped_at,
    }


@router.get(
    "/purchase-orders/export",
    response={200: None, **ERRORS},
    summary="CSV of a supplier's purchase orders to ship (marks them sent)",
)
def export_purchase_orders(request, supplier_id: int, include_sent: bool = False):
    filename, text, _count = services.export_purchase_orders(
        supplier_id, actor=actor(request), include_sent=include_sent
    )
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.post("/purchase-orders/tracking", response={200: TrackingImportOut, **ERRORS})
def import_tracking(request, file: File[UploadedFile]):
    """Upload the supplier's CSV with `carrier` and `tracking_no` filled in: those lines ship."""
    result = services.import_tracking(file, actor=actor(request))
    return {
        "shipped": result.shipped,
        "unchanged": result.unchanged,
        "errors": [f"row {n}: {message}" for n, message in result.errors],
    }


@router.get("/{order_id}", response={200: OrderOut, **ERRORS})
def get_order(request, order_id: int):
    return _detail(order_id, actor(request))


@router.post("/{order_id}/ship", response={200: OrderOut, **ERRORS})
def ship_order(request, order_id: int, payload: ShipIn):
    who = actor(request)
    services.ship(
        order_id,
        actor=who,
        carrier=payload.carrier,
        tracking_no=payload.tracking_no,
        quantities=payload.quantities,
    )
    return _detail(order_id, who)


@router.post("/{order_id}/pickup", response={200: OrderOut, **ERRORS})
def hand_over_pickup(request, order_id: int, payload: PickupIn):
    who = actor(request)
    services.hand_over_pickup(order_id, actor=who, pickup_code=payload.pickup_code)
    return _detail(order_id, who)


@router.post("/{order_id}/deliver", response={200: OrderOut, **ERRORS})
def mark_delivered(request, order_id: int, payload: NoteIn):
    who = actor(request)
    services.mark_delivered(order_id, actor=who, note=payload.note)
    return _detail(order_id, who)


@router.post("/{order_id}/cancel", response={200: OrderOut, **ERRORS})
def cancel_order(request, order_id: int, payload: ReasonIn):
    who = actor(request)
    services.cancel_order(order_id, actor=who, reason=payload.reason)
    return _detail(order_id, who)


@router.post("/{order_id}/refund", response={200: OrderOut, **ERRORS})
def refund_order(request, order_id: int, payload: StaffRefundIn):
    """Refund some units (optionally less than their share) on the merchant's initiative: an
    after-sales case is opened and approved at once."""
    who = actor(request)
    case = services.request_after_sale(
        order_id,
        actor=who,
        kind=payload.kind,
        quantities=payload.quantities,
        amounts=payload.amounts,
        reason=payload.reason,
        description=payload.note,
    )
    services.approve_after_sale(case.pk, actor=who, note=payload.note)
    return _detail(order_id, who)


# --- shoppers ---------------------------------------------------------------------------------


class CartLineOut(Schema):
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
    amount_fen: int
    available: int | None
    on_sale: bool


class CartOut(Schema):
    lines: list[CartLineOut]
    selected_count: int
    selected_amount_fen: int


class CartAddIn(Schema):
    sku_id: int
    quantity: int = 1


class CartSetIn(Schema):
    quantity: int | None = None
    selected: bool | None = None


class ItemIn(Schema):
    sku_id: int
    quantity: int


class AddressIn(Schema):
    name: str
    phone: str
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""


class CheckoutIn(Schema):
    """Items to buy (or the selected cart lines with `from_cart`), and how they reach the shopper.
    Never a price: the server prices the order."""

    items: list[ItemIn] = []
    from_cart: bool = False
    delivery_method: str = "delivery"
    store_id: int | None = None
    address_id: int | None = None
    address: AddressIn | None = None
    buyer_note: str = ""
    coupon_codes: list[str] = []
    hints: dict[str, str] = {}


class QuoteLineOut(Schema):
    sku_id: int
    title: str
    spec_text: str
    quantity: int
    unit_price_fen: int
    list_price_fen: int
    amount_fen: int
    discount_fen: int
    payable_fen: int


class QuoteAdjustmentOut(Schema):
    code: str
    label: str
    amount_fen: int


class QuoteOut(Schema):
    lines: list[QuoteLineOut]
    adjustments: list[QuoteAdjustmentOut]
    goods_amount_fen: int
    discount_fen: int
    shipping_fen: int
    payable_fen: int


class AfterSaleIn(Schema):
    kind: str
    reason: str
    quantities: dict[int, int]
    description: str = ""


class ReturnIn(Schema):
    carrier: str
    tracking_no: str


class ShopOrderPage(Schema):
    items: list[OrderSummaryOut]
    next_cursor: int | None


def _cart_out(who) -> dict:
    lines = services.cart_lines(who)
    chosen = [ln for ln in lines if ln.selected and ln.on_sale]
    return {
        "lines": [{**ln.__dict__, "amount_fen": ln.amount_fen} for ln in lines],
        "selected_count": sum(ln.quantity for ln in chosen),
        "selected_amount_fen": sum(ln.amount_fen for ln in chosen),
    }


@shop.get("/cart", response={200: CartOut, **ERRORS})
def get_cart(request):
    return _cart_out(actor(request))


@shop.post("/cart", response={200: CartOut, **ERRORS}, summary="Add a SKU (or more of it)")
def add_to_cart(request, payload: CartAddIn):
    who = actor(request)
    services.add_to_cart(who, payload.sku_id, payload.quantity)
    return _cart_out(who)


@shop.put(
    "/cart/{sku_id}", response={200: CartOut, **ERRORS}, summary="Quantity (0 removes) or selection"
)
def set_cart_line(request, sku_id: int, payload: CartSetIn):
    who = actor(request)
    if payload.quantity is not None:
        services.set_cart_quantity(who, sku_id, payload.quantity)
    if payload.selected is not None:
        services.select_cart_items(who, [sku_id], payload.selected)
    return _cart_out(who)


@shop.delete("/cart/{sku_id}", response={200: CartOut, **ERRORS})
def remove_cart_line(request, sku_id: int):
    who = actor(request)
    services.remove_from_cart(who, [sku_id])
    return _cart_out(who)


def delivery_address(who, address_id: int | None, address) -> services.Address | None:
    """The delivery address a shopper's request names: an entry of their own address book
    (`address_id`, checked to be theirs) or one typed in (`address`), or none (pickup)."""
    if address_id is not None:
        from siyu.mall.services import get_address

        saved = get_address(address_id, actor=who)
        return services.Address(
            name=saved.receiver_name,
            phone=saved.receiver_phone,
            province=saved.province,
            city=saved.city,
            district=saved.district,
            detail=saved.detail,
        )
    if address is not None:
        return services.Address(**address.dict())
    return None


def _checkout(who, payload: CheckoutIn) -> services.Checkout:
    items = [(i.sku_id, i.quantity) for i in payload.items]
    if payload.from_cart and not items:
        items = services.selected_items(who)
    address = delivery_address(who, payload.address_id, payload.address)
    return services.Checkout(
        items=items,
        delivery_method=payload.delivery_method,
        store_id=payload.store_id,
        address=address,
        buyer_note=payload.buyer_note,
        context={"coupon_codes": payload.coupon_codes} if payload.coupon_codes else {},
        hints=payload.hints,
        from_cart=payload.from_cart,
    )


@shop.post("/checkout/quote", response={200: QuoteOut, **ERRORS}, summary="Price a checkout")
def checkout_quote(request, payload: CheckoutIn):
    """What the order would cost, priced on the server; raises the same errors placing it would
    (out of stock, not on sale, over a purchase limit). The address may be left out here."""
    who = actor(request)
    quoted = services.quote(who, _checkout(who, payload))
    return {
        "lines": [
            {
                "sku_id": ln.sku_id,
                "title": ln.title,
                "spec_text": ln.spec_text,
                "quantity": ln.quantity,
                "unit_price_fen": ln.unit_price_fen,
                "list_price_fen": ln.list_price_fen,
                "amount_fen": ln.amount_fen,
                "discount_fen": ln.discount_fen,
                "payable_fen": ln.payable_fen,
            }
            for ln in quoted.lines
        ],
        "adjustments": quoted.summary(),
        "goods_amount_fen": quoted.goods_fen,
        "discount_fen": quoted.discount_fen,
        "shipping_fen": quoted.shipping_fen,
        "payable_fen": quoted.payable_fen,
    }


@shop.post(
    "/orders",
    response={200: OrderOut, 201: OrderOut, **ERRORS},
    summary="Place an order (Idempotency-Key required)",
)
def place_order(
    request,
    response: HttpResponse,
    payload: CheckoutIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    """Send a fresh `Idempotency-Key` (e.g. a UUID) per order the shopper means to place and
    resend the same key when retrying: the first request answers 201 with the new order, a retry
    200 with the same order (`Idempotent-Replayed: true`). The same key with different contents
    answers 409 `idempotency_key_reused`. The order must be paid before `payment_deadline`."""
    who = actor(request)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise ValidationFailed(
            _("Send an Idempotency-Key header (at most 64 characters)."),
            code="idempotency_key_required",
            fields={"Idempotency-Key": "required"},
        )
    digest = hashlib.sha256(
        json.dumps(payload.dict(), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    existing = services.replayed_order(who, key, digest)
    if existing is None:
        placed = services.place_order(
            who,
            _checkout(who, payload),
            idempotency_key=key,
            request_fingerprint=digest,
            replay_checked=True,
        )
        if placed.created:
            # what placement just wrote is the whole order: no need to read it back
            return Status(201, presenters.order_detail(placed.order, who, related=placed.related))
        existing = placed.order
    response["Idempotent-Replayed"] = "true"
    return Status(200, _detail(existing.pk, who))


@shop.get("/orders", response={200: ShopOrderPage, **ERRORS}, summary="My orders, newest first")
def my_orders(request, status: str = "", after: int | None = None, size: int = 20):
    who = actor(request)
    qs = services.orders_visible_to(who).prefetch_related("lines")
    if status:
        qs = qs.filter(status__in=status.split(","))
    page = keyset_page(qs, after=after, size=min(size, 50))
    return {
        "items": [presenters.order_summary(o, who) for o in page.items],
        "next_cursor": page.next_cursor,
    }


@shop.get("/orders/{order_id}", response={200: OrderOut, **ERRORS})
def my_order(request, order_id: int):
    return _detail(order_id, actor(request))


@shop.post("/orders/{order_id}/cancel", response={200: OrderOut, **ERRORS})
def cancel_my_order(request, order_id: int, payload: ReasonIn):
    who = actor(request)
    services.cancel_order(order_id, actor=who, reason=payload.reason)
    return _detail(order_id, who)


@shop.post(
    "/orders/{order_id}/confirm", response={200: OrderOut, **ERRORS}, summary="Confirm receipt"
)
def confirm_receipt(request, order_id: int):
    who = actor(request)
    services.confirm_receipt(order_id, actor=who)
    return _detail(order_id, who)


@shop.post("/orders/{order_id}/after-sales", response={201: AfterSaleOut, **ERRORS})
def request_after_sale(request, order_id: int, payload: AfterSaleIn):
    """Ask for money back: `refund_only`, or `return_refund` for shipped units."""
    who = actor(request)
    case = services.request_after_sale(
        order_id,
        actor=who,
        kind=payload.kind,
        quantities=payload.quantities,
        reason=payload.reason,
        description=payload.description,
    )
    return Status(201, presenters.after_sale_out(case, who))


def _my_case(who, case_id: int) -> AfterSale:
    case = AfterSale.objects.filter(pk=case_id, order__customer_id=who.customer_id).first()
    if case is None:
        raise NotFound(_("Not found."))
    return case


@shop.get("/after-sales", response={200: list[AfterSaleOut], **ERRORS})
def my_after_sales(request):
    who = actor(request)
    cases = AfterSale.objects.filter(order__customer_id=who.customer_id).prefetch_related("lines")
    return [presenters.after_sale_out(c, who) for c in cases[:100]]


@shop.post("/after-sales/{case_id}/withdraw", response={200: AfterSaleOut, **ERRORS})
def withdraw_after_sale(request, case_id: int):
    who = actor(request)
    _my_case(who, case_id)
    services.withdraw_after_sale(case_id, actor=who)
    return presenters.after_sale_out(AfterSale.objects.get(pk=case_id), who)


@shop.post("/after-sales/{case_id}/return", response={200: AfterSaleOut, **ERRORS})
def send_return(request, case_id: int, payload: ReturnIn):
    """The shopper posted the goods back: carrier and tracking number."""
    who = actor(request)
    _my_case(who, case_id)
    services.submit_return_tracking(
        case_id, actor=who, carrier=payload.carrier, tracking_no=payload.tracking_no
    )
    return presenters.after_sale_out(AfterSale.objects.get(pk=case_id), who)


router.add_router("/shop", shop)
