"""The payment provider interface and the provider-neutral values that cross it.

A provider creates payments (JSAPI / mini-program / H5), queries and closes them, refunds and
queries refunds, and turns a raw notification request into a verified `Notification`. Values are
integer fen and aware datetimes; the raw provider payload rides along for the log.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime


class TradeState:
    """WeChat Pay's trade_state values (the dev provider uses the same)."""

    SUCCESS = "SUCCESS"
    REFUND = "REFUND"  # paid, then (partly) refunded
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"

    PAID = frozenset({SUCCESS, REFUND})


class RefundState:
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    PROCESSING = "PROCESSING"
    ABNORMAL = "ABNORMAL"


@dataclass(frozen=True)
class PaymentRequest:
    out_trade_no: str
    description: str
    amount_fen: int
    method: str  # Method value: jsapi, miniprogram, h5
    expires_at: datetime
    openid: str = ""
    client_ip: str = ""
    return_url: str = ""
    attach: str = ""


@dataclass(frozen=True)
class PaymentLaunch:
    """What the shopper's client needs to pay.

    `redirect_url`: send the browser there (WeChat's h5_url, or the dev cashier).
    `jsapi_params`: the signed parameters for wx.requestPayment / WeixinJSBridge.
    """

    prepay_id: str = ""
    h5_url: str = ""
    redirect_url: str = ""
    jsapi_params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TradeResult:
    out_trade_no: str
    state: str
    transaction_id: str = ""
    amount_fen: int | None = None
    payer_total_fen: int | None = None
    currency: str = "CNY"
    success_time: datetime | None = None
    appid: str = ""
    mchid: str = ""
    state_desc: str = ""
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def is_paid(self) -> bool:
        return self.state in TradeState.PAID


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    status: str
    refund_id: str = ""
    out_trade_no: str = ""
    transaction_id: str = ""
    amount_fen: int | None = None
    total_fen: int | None = None
    success_time: datetime | None = None
    user_received_account: str = ""
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted notification."""

    notification_id: str
    event_type: str
    kind: str  # payment, refund, other
    created_at: datetime | None
    serial: str
    signed_at: datetime | None
    trade: TradeResult | None = None
    refund: RefundResult | None = None
    resource: dict = field(default_factory=dict, compare=False)


class PaymentProvider(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def create_payment(self, request: PaymentRequest) -> PaymentLaunch: ...

    @abc.abstractmethod
    def launch_again(self, request: PaymentRequest, prepay_id: str, h5_url: str) -> PaymentLaunch:
        """Client parameters for an attempt already created (freshly signed for JSAPI)."""

    @abc.abstractmethod
    def query_payment(self, out_trade_no: str) -> TradeResult | None:
        """The provider's view of a trade; None when it never heard of it."""

    @abc.abstractmethod
    def close_payment(self, out_trade_no: str) -> None:
        """Close an unpaid trade; raises ProviderError(provider_code="ORDERPAID") when paid."""

    @abc.abstractmethod
    def refund(
        self,
        *,
        out_trade_no: str,
        transaction_id: str,
        out_refund_no: str,
        amount_fen: int,
        total_fen: int,
        reason: str,
    ) -> RefundResult: ...

    @abc.abstractmethod
    def query_refund(self, out_refund_no: str) -> RefundResult | None: ...

    @abc.abstractmethod
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify and decrypt; raise NotificationRejected for anything not genuine and fresh."""


# --- WeChat Pay v3 payload shapes (shared by the real adapter and the dev provider) -------------


def parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return parse_datetime(str(value))
    except ValueError:
        return None


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def without_payer(payload: dict) -> dict:
    """The payload minus the shopper's openid, for logs."""
    return {k: v for k, v in payload.items() if k != "payer"}


def trade_from_wechat(payload: Mapping) -> TradeResult:
    amount = payload.get("amount") or {}
    return TradeResult(
        out_trade_no=str(payload.get("out_trade_no") or ""),
        state=str(payload.get("trade_state") or ""),
        transaction_id=str(payload.get("transaction_id") or ""),
        amount_fen=_int(amount.get("total")),
        payer_total_fen=_int(amount.get("payer_total")),
        currency=str(amount.get("currency") or "CNY"),
        success_time=parse_time(payload.get("success_time")),
        appid=str(payload.get("appid") or ""),
        mchid=str(payload.get("mchid") or ""),
        state_desc=str(payload.get("trade_state_desc") or ""),
        raw=without_payer(dict(payload)),
    )


def refund_from_wechat(payload: Mapping) -> RefundResult:
    amount = payload.get("amount") or {}
    # The refund API answers with `status`, the refund notification with `refund_status`.
    status = payload.get("status") or payload.get("refund_status") or ""
    return RefundResult(
        out_refund_no=str(payload.get("out_refund_no") or ""),
        status=str(status),
        refund_id=str(payload.get("refund_id") or ""),
        out_trade_no=str(payload.get("out_trade_no") or ""),
        transaction_id=str(payload.get("transaction_id") or ""),
        amount_fen=_int(amount.get("refund")),
        total_fen=_int(amount.get("total")),
        success_time=parse_time(payload.get("success_time")),
        user_received_account=str(payload.get("user_received_account") or "")[:64],
        raw=dict(payload),
    )
