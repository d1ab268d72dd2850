"""Payments API.

Staff (token or console session): list and read payments and refunds, ask the provider now.
Shoppers (the mall's session cookie, `ShopperAuth`): pay an order — the mini-program gets the
signed `wx.requestPayment` parameters, a browser the address to send the shopper to — and follow
its payment status.
"""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from siyu.core.api import ErrorBody, actor
from siyu.core.pagination import keyset_page
from siyu.mall.sessions import ShopperAuth

from . import services

router = Router(tags=["payments"])


class PaymentOut(Schema):
    id: int
    out_trade_no: str
    order_id: int
    customer_id: int
    provider: str
    method: str
    status: str
    amount_fen: int
    refunded_fen: int
    applied_to_order: bool
    transaction_id: str
    provider_state: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    last_synced_at: datetime | None


class RefundOut(Schema):
    id: int
    refund_key: str
    out_refund_no: str
    payment_id: int
    order_id: int
    origin: str
    status: str
    amount_fen: int
    reason: str
    refund_id: str
    provider_status: str
    created_at: datetime
    succeeded_at: datetime | None


class HistoryOut(Schema):
    from_status: str
    to_status: str
    actor_label: str
    note: str
    created_at: datetime


class PaymentDetailOut(PaymentOut):
    history: list[HistoryOut]
    refunds: list[RefundOut]

    @staticmethod
    def resolve_history(obj):
        return list(obj.history.all())

    @staticmethod
    def resolve_refunds(obj):
        return list(obj.refunds.order_by("-created_at"))


class RefundDetailOut(RefundOut):
    history: list[HistoryOut]

    @staticmethod
    def resolve_history(obj):
        return list(obj.history.all())


class PaymentPage(Schema):
    items: list[PaymentOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class RefundPage(Schema):
    items: list[RefundOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class SyncOut(Schema):
    outcome: str
    reason: str
    payment: PaymentOut


class _Query:
    """Adapter so the console's filter functions read API query parameters."""

    def __init__(self, params: dict):
        self.GET = {k: v for k, v in params.items() if v not in (None, "")}


class PayIn(Schema):
    method: str = "miniprogram"
    openid: str = ""
    return_url: str = ""


class PayOut(Schema):
    payment_id: int
    out_trade_no: str
    method: str
    amount_fen: int
    expires_at: datetime
    reused: bool
    redirect_url: str
    h5_url: str
    jsapi_params: dict


class OrderPaymentOut(Schema):
    order_id: int
    out_trade_no: str | None
    status: str
    paid: bool
    amount_fen: int | None
    paid_at: datetime | None


_SHOPPER_ERRORS = {400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody}


@router.post(
    "/orders/{order_id}/pay",
    auth=ShopperAuth(),
    response={200: PayOut, 502: ErrorBody, 503: ErrorBody, **_SHOPPER_ERRORS},
)
def pay_order(request, order_id: int, payload: PayIn):
    """Start (or resume) paying the shopper's order. `method`: `miniprogram` (use `jsapi_params`
    with wx.requestPayment), `jsapi` (WeixinJSBridge inside WeChat) or `h5` (send the browser to
    `redirect_url`). `openid` defaults to the one the shopper logged in with."""
    start = services.start_payment(
        order_id,
        method=payload.method,
        actor=actor(request),
        openid=payload.openid,
        client_ip=request.META.get("REMOTE_ADDR", ""),
        return_url=payload.return_url,
    )
    payment = start.payment
    return {
        "payment_id": payment.pk,
        "out_trade_no": payment.out_trade_no,
        "method": payment.method,
        "amount_fen": payment.amount_fen,
        "expires_at": payment.expires_at,
        "reused": start.reused,
        "redirect_url": start.launch.redirect_url,
        "h5_url": start.launch.h5_url,
        "jsapi_params": start.launch.jsapi_params,
    }


@router.get(
    "/orders/{order_id}/status",
    auth=ShopperAuth(),
    response={200: OrderPaymentOut, **_SHOPPER_ERRORS},
)
def order_payment_status(request, order_id: int):
    """The latest payment attempt of the shopper's order (poll after wx.requestPayment returns)."""
    latest = services.payments_for_order(order_id, actor=actor(request)).first()
    return {
        "order_id": order_id,
        "out_trade_no": latest.out_trade_no if latest else None,
        "status": latest.status if latest else "none",
        "paid": bool(latest and latest.applied_to_order),
        "amount_fen": latest.amount_fen if latest else None,
        "paid_at": latest.paid_at if latest else None,
    }


@router.get("/", response={200: PaymentPage, 403: ErrorBody})
def list_payments(
    request,
    status: str = "",
    provider: str = "",
    method: str = "",
    q: str = "",
    after: int | None = None,
    size: int = 50,
):
    """Payments, newest first; `after` is the previous page's `next_cursor`."""
    from .views import filter_payments

    qs = filter_payments(
        _Query({"status": status, "provider": provider, "method": method, "q": q}),
        services.visible_payments(actor(request)),
    )
    page = keyset_page(qs, after=after, size=size)
    return {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


@router.get("/refunds/", response={200: RefundPage, 403: ErrorBody})
def list_refunds(
    request,
    status: str = "",
    origin: str = "",
    q: str = "",
    after: int | None = None,
    size: int = 50,
):
    from .views import filter_refunds

    qs = filter_refunds(
        _Query({"status": status, "origin": origin, "q": q}),
        services.visible_refunds(actor(request)),
    )
    page = keyset_page(qs, after=after, size=size)
    return {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


@router.get("/refunds/{refund_id}", response={200: RefundDetailOut, 403: ErrorBody, 404: ErrorBody})
def get_refund(request, refund_id: int):
    return get_object_or_404(services.visible_refunds(actor(request)), pk=refund_id)


@router.post(
    "/refunds/{refund_id}/sync",
    response={200: RefundOut, 403: ErrorBody, 404: ErrorBody, 502: ErrorBody, 503: ErrorBody},
)
def sync_refund(request, refund_id: int):
    """Send a refund not yet accepted, or ask the provider how it is going."""
    return services.sync_refund(refund_id, actor=actor(request))


@router.get("/{payment_id}", response={200: PaymentDetailOut, 403: ErrorBody, 404: ErrorBody})
def get_payment(request, payment_id: int):
    return get_object_or_404(services.visible_payments(actor(request)), pk=payment_id)


@router.post(
    "/{payment_id}/sync",
    response={200: SyncOut, 403: ErrorBody, 404: ErrorBody, 502: ErrorBody, 503: ErrorBody},
)
def sync_payment(request, payment_id: int):
    """Ask the provider about this payment now and apply the answer."""
    outcome = services.sync_payment(payment_id, actor=actor(request))
    from .models import Payment

    return {
        "outcome": outcome.status,
        "reason": outcome.reason,
        "payment": Payment.objects.get(pk=payment_id),
    }
