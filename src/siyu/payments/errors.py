"""Errors of the payments app and of the providers behind it."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict, DomainError

# The code orders' mark-paid raises when an order can no longer take money (cancelled, timed out,
# already paid by another attempt). Matched by code so payments does not import orders' internals.
ORDER_NOT_PAYABLE = "order_not_payable"


class PaymentNotAllowed(Conflict):
    """This order cannot be paid now."""

    code = ORDER_NOT_PAYABLE


class NothingToRefund(Conflict):
    """The order has no confirmed payment to refund."""

    code = "no_payment_to_refund"


class RefundExceedsPayment(Conflict):
    """The refunds requested would return more than was paid."""

    code = "refund_exceeds_payment"


class ProviderError(DomainError):
    """The payment provider refused or could not be reached.

    `transient` errors (network, timeouts, 5xx, rate limits, insufficient merchant balance) are
    retried; the others are final for this request. `provider_code` is the provider's own code
    (WeChat Pay's `code`, e.g. ORDER_NOT_EXIST, ORDERPAID, NOT_ENOUGH).
    """

    code = "payment_provider_error"
    status = 502

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_code: str = "",
        http_status: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message or _("The payment provider returned an error."))
        self.provider_code = provider_code
        self.http_status = http_status
        self.transient = transient

    def __str__(self) -> str:
        parts = [self.provider_code or "", self.message]
        if self.http_status:
            parts.insert(0, f"HTTP {self.http_status}")
        return " ".join(p for p in parts if p)


class ProviderUnavailable(ProviderError):
    """The payment provider could not be reached; try again shortly."""

    code = "payment_provider_unavailable"
    status = 503

    def __init__(self, message: str | None = None, **kwargs) -> None:
        kwargs.setdefault("transient", True)
        super().__init__(message or _("The payment service is busy. Please try again."), **kwargs)


class ProviderNotConfigured(DomainError):
    """The payment provider is not configured."""

    code = "payment_provider_not_configured"
    status = 503


class NotificationRejected(Exception):
    """A notification we refuse: forged, tampered, stale, malformed, or about something unknown.

    `reason` is a short stable code for the log; `status` the HTTP status we answer with.
    """

    def __init__(self, reason: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
