"""Marketing API under /api/v1/marketing/.

Staff (token or console session): coupons with live figures, creating, starting/stopping and
issuing them; flash sales with live figures, creating, publishing and cancelling them.
Shoppers (`/shop/...`, the H5 shopper session through `ShopperAuth`): the coupon centre,
claiming, my coupons, live flash sales and buying a flash-sale item (Idempotency-Key required).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Header, Router, Schema
from ninja.responses import Status

from siyu.core.api import ErrorBody, actor
from siyu.core.errors import ValidationFailed
from siyu.core.pagination import keyset_page
from siyu.mall.sessions import ShopperAuth
from siyu.orders import services as orders
from siyu.orders.api import delivery_address

from . import flash, services

router = Router(tags=["marketing"])
shop = Router(tags=["marketing (shopper)"], auth=ShopperAuth())

ERRORS = {
    400: ErrorBody,
    401: ErrorBody,
    403: ErrorBody,
    404: ErrorBody,
    409: ErrorBody,
    422: ErrorBody,
}


class CouponIn(Schema):
    name: str
    kind: str
    amount_fen: int = 0
    percent_off: int = 0
    max_discount_fen: int | None = None
    min_spend_fen: int = 0
    scope: str = "shop"
    product_ids: list[int] = []
    category_ids: list[int] = []
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    total_quantity: int | None = None
    per_customer_limit: int = 1
    claimable: bool = True
    refund_policy: str = "return_on_full_refund"
    description: str = ""
    activate: bool = False


class FiguresOut(Schema):
    claimed: int
    used: int
    gmv_fen: int
    cost_fen: int


class CouponOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    amount_fen: int
    percent_off: int
    max_discount_fen: int | None
    min_spend_fen: int
    scope: str
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    total_quantity: int | None
    per_customer_limit: int
    issued_count: int
    claimable: bool
    share_code: str
    refund_policy: str
    status: str
    figures: FiguresOut | None = None


class CouponPage(Schema):
    items: list[CouponOut]
    next_cursor: int | None


class StatusIn(Schema):
    status: str


class IssueIn(Schema):
    customer_ids: list[int] = []
    segment_id: int | None = None
    notify: bool = False
    channel: str = "sms"


class IssueOut(Schema):
    id: int
    coupon_id: int
    target_label: str
    requested: int
    issued: int
    skipped: int
    notified: int


def _coupon_out(coupon, figures=None) -> dict:
    out = {f: getattr(coupon, f) for f in CouponOut.model_fields if f != "figures"}
    out["figures"] = figures
    return out


@router.get("/coupons", response={200: CouponPage, **ERRORS}, summary="Coupons, newest first")
def list_coupons(request, status: str = "", after: int | None = None, size: int = 50):
    qs = services.coupons_for_staff(actor(request))
    if status:
        qs = qs.filter(status=status)
    page = keyset_page(qs.order_by("-id"), after=after, size=min(size, 200))
    figures = services.coupon_figures([c.pk for c in page.items])
    return {
        "items": [_coupon_out(c, figures[c.pk]) for c in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("/coupons", response={201: CouponOut, **ERRORS}, summary="Define a coupon")
def create_coupon(request, payload: CouponIn):
    data = payload.dict()
    activate = data.pop("activate")
    coupon = services.create_coupon(actor(request), services.CouponInput(**data), activate=activate)
    return Status(201, _coupon_out(coupon))


@router.get("/coupons/{coupon_id}", response={200: CouponOut, **ERRORS})
def get_coupon(request, coupon_id: int):
    coupon = services.get_coupon(actor(request), coupon_id)
    return _coupon_out(coupon, services.coupon_figures([coupon.pk])[coupon.pk])


@router.post("/coupons/{coupon_id}/status", response={200: CouponOut, **ERRORS})
def coupon_status(request, coupon_id: int, payload: StatusIn):
    return _coupon_out(services.set_coupon_status(actor(request), coupon_id, payload.status))


@router.post(
    "/coupons/{coupon_id}/issue",
    response={200: IssueOut, **ERRORS},
    summary="Issue to customers or a segment",
)
def issue_coupon(request, coupon_id: int, payload: IssueIn):
    """One copy per customer; notifications (with `notify`) only to customers contactable on
    `channel`. Customers at their limit or past the remaining total are counted as skipped."""
    run = services.issue(
        actor(request),
        coupon_id,
        customer_ids=payload.customer_ids or None,
        segment_id=payload.segment_id,
        notify=payload.notify,
        channel=payload.channel,
    )
    return {
        "id": run.pk,
        "coupon_id": run.coupon_id,
        "target_label": run.target_label,
        "requested": run.requested,
        "issued": run.issued,
        "skipped": run.skipped,
        "notified": run.notified,
    }


# --- flash sales (staff) ---------------------------------------------------------------------------


class SaleItemIn(Schema):
    sku_id: int
    price_fen: int
    quota: int


class SaleIn(Schema):
    title: str
    kind: str = "flash_sale"
    starts_at: datetime
    ends_at: datetime
    per_customer_limit: int = 1
    items: list[SaleItemIn]
    publish: bool = False


class SaleItemOut(Schema):
    id: int
    sku_id: int
    title: str
    price_fen: int
    normal_price_fen: int
    quota: int
    sold: int
    left: int


class SaleFiguresOut(Schema):
    held: int
    paid: int
    buyers: int
    gmv_fen: int
    cost_fen: int
    quota: int


class SaleOut(Schema):
    id: int
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    per_customer_limit: int
    status: str
    live: bool
    items: list[SaleItemOut]
    figures: SaleFiguresOut | None = None


class SalePage(Schema):
    items: list[SaleOut]
    next_cursor: int | None


def _sale_out(sale, figures=None) -> dict:
    return {
        "id": sale.pk,
        "title": sale.title,
        "kind": sale.kind,
        "starts_at": sale.starts_at,
        "ends_at": sale.ends_at,
        "per_customer_limit": sale.per_customer_limit,
        "status": sale.status,
        "live": sale.is_live(),
        "items": [
            {
                "id": i.pk,
                "sku_id": i.sku_id,
                "title": f"{i.sku.product.title} {i.sku.spec_text}".strip(),
                "price_fen": i.price_fen,
                "normal_price_fen": i.sku.price_fen,
                "quota": i.quota,
                "sold": i.sold,
                "left": i.left,
            }
            for i in sale.items.select_related("sku__product")
        ],
        "figures": figures,
    }


@router.get("/flash-sales", response={200: SalePage, **ERRORS}, summary="Flash sales")
def list_sales(request, after: int | None = None, size: int = 50):
    qs = flash.sales_for_staff(actor(request)).order_by("-id")
    page = keyset_page(qs, after=after, size=min(size, 200))
    figures = flash.sale_figures([s.pk for s in page.items])
    return {
        "items": [_sale_out(s, figures[s.pk]) for s in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("/flash-sales", response={201: SaleOut, **ERRORS}, summary="Set up a flash sale")
def create_sale(request, payload: SaleIn):
    sale = flash.create_sale(
        actor(request),
        title=payload.title,
        kind=payload.kind,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        per_customer_limit=payload.per_customer_limit,
        items=[flash.ItemInput(i.sku_id, i.price_fen, i.quota) for i in payload.items],
        publish=payload.publish,
    )
    return Status(201, _sale_out(sale))


@router.get("/flash-sales/{sale_id}", response={200: SaleOut, **ERRORS})
def get_sale(request, sale_id: int):
    sale = flash.get_sale(actor(request), sale_id)
    return _sale_out(sale, flash.sale_figures([sale.pk])[sale.pk])


@router.post("/flash-sales/{sale_id}/status", response={200: SaleOut, **ERRORS})
def sale_status(request, sale_id: int, payload: StatusIn):
    return _sale_out(flash.set_sale_status(actor(request), sale_id, payload.status))


# --- shoppers ---------------------------------------------------------------------------------------


class OfferOut(Schema):
    coupon: CouponOut
    held: int
    can_claim: bool
    sold_out: bool


class HeldOut(Schema):
    id: int
    code: str
    status: str
    coupon_id: int
    name: str
    kind: str
    amount_fen: int
    percent_off: int
    max_discount_fen: int | None
    min_spend_fen: int
    valid_from: datetime
    valid_until: datetime | None
    order_id: int | None


def _held_out(h) -> dict:
    c = h.coupon
    return {
        "id": h.pk,
        "code": h.code,
        "status": h.status,
        "coupon_id": c.pk,
        "name": c.name,
        "kind": c.kind,
        "amount_fen": c.amount_fen,
        "percent_off": c.percent_off,
        "max_discount_fen": c.max_discount_fen,
        "min_spend_fen": c.min_spend_fen,
        "valid_from": h.valid_from,
        "valid_until": h.valid_until,
        "order_id": h.order_id,
    }


@shop.get("/coupons/centre", response={200: list[OfferOut], **ERRORS}, summary="Coupon centre")
def coupon_centre(request):
    return [{**o, "coupon": _coupon_out(o["coupon"])} for o in services.centre(actor(request))]


class ClaimIn(Schema):
    share_code: str = ""


@shop.post("/coupons/{coupon_id}/claim", response={200: HeldOut, **ERRORS})
def claim_coupon(request, coupon_id: int, payload: ClaimIn):
    """Claim a coupon from the centre (or from a share link with its `share_code`). Claiming
    again after a success returns the same copy until the limit allows another."""
    held = services.claim(actor(request), coupon_id, via_share=payload.share_code)
    return _held_out(held)


@shop.get("/coupons/mine", response={200: list[HeldOut], **ERRORS}, summary="My coupons")
def my_coupons(request, state: str = "available"):
    return [_held_out(h) for h in services.my_coupons(actor(request), state=state)[:200]]


@shop.get("/flash-sales", response={200: list[SaleOut], **ERRORS}, summary="Live and upcoming")
def live_sales(request):
    return [_sale_out(s) for s in flash.storefront_sales()]


class AddressIn(Schema):
    name: str
    phone: str
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""


class BuyIn(Schema):
    quantity: int = 1
    delivery_method: str = "delivery"
    store_id: int | None = None
    address_id: int | None = None
    address: AddressIn | None = None
    buyer_note: str = ""


class PlacedOut(Schema):
    order_id: int
    number: str
    status: str
    channel: str
    payable_fen: int
    payment_deadline: datetime | None


@shop.post(
    "/flash-sales/items/{item_id}/orders",
    response={200: PlacedOut, 201: PlacedOut, **ERRORS},
    summary="Buy a flash-sale item (Idempotency-Key required)",
)
def buy_item(
    request,
    response: HttpResponse,
    item_id: int,
    payload: BuyIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    """Places an unpaid order for the item at the activity price (pay it like any order). 201
    with the new order; 200 with the same order when the key is replayed. 409
    `sale_sold_out`, `sale_limit_reached`, `sale_not_live`."""
    who = actor(request)
    key = (idempotency_key or "").strip()
    if not key or len(key) > 64:
        raise ValidationFailed(
            _("Send an Idempotency-Key header (at most 64 characters)."),
            code="idempotency_key_required",
            fields={"Idempotency-Key": "required"},
        )
    address = delivery_address(who, payload.address_id, payload.address)
    placed = flash.buy(
        who,
        item_id,
        quantity=payload.quantity,
        checkout=orders.Checkout(
            items=[],
            delivery_method=payload.delivery_method,
            store_id=payload.store_id,
            address=address,
            buyer_note=payload.buyer_note,
        ),
        idempotency_key=key,
    )
    order = placed.order
    if not placed.created:
        response["Idempotent-Replayed"] = "true"
    return Status(
        201 if placed.created else 200,
        {
            "order_id": order.pk,
            "number": order.number,
            "status": order.status,
            "channel": order.channel,
            "payable_fen": order.payable_fen,
            "payment_deadline": order.payment_deadline,
        },
    )


router.add_router("/shop", shop)
