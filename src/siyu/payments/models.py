"""Payment attempts, refunds and received notifications, plus the dev provider's own ledger.

Every external key is unique in the database: out_trade_no per payment attempt, out_refund_no and
refund_key per refund, and the provider's notification id among processed notifications. These
constraints, not application checks alone, are what make a replayed notification harmless.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.states import StatusHistory

from .states import NotificationStatus, PaymentStatus, RefundStatus


class Provider(models.TextChoices):
    DEV = "dev", _("Dev provider (no real money)")
    WECHAT = "wechat", _("WeChat Pay")


class Method(models.TextChoices):
    JSAPI = "jsapi", _("WeChat in-app (JSAPI)")
    MINIPROGRAM = "miniprogram", _("Mini-program")
    H5 = "h5", _("Mobile browser (H5)")


class Payment(models.Model):
    """One attempt to collect an order's money through a provider (WeChat Pay's out_trade_no)."""

    out_trade_no = models.CharField(_("merchant trade number"), max_length=32, unique=True)
    order = models.ForeignKey(
        "orders.Order", verbose_name=_("order"), on_delete=models.PROTECT, related_name="payments"
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="payments",
    )
    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=PaymentStatus.choices,
        default=PaymentStatus.PENDING,
        db_index=True,
    )
    amount_fen = models.BigIntegerField(_("amount"))
    currency = models.CharField(max_length=3, default="CNY")
    description = models.CharField(_("description"), max_length=127)
    # True for the one payment the order accepted; a second payment for the same order is refunded.
    applied_to_order = models.BooleanField(_("applied to the order"), default=False)
    transaction_id = models.CharField(_("provider transaction id"), max_length=64, blank=True)
    payer_total_fen = models.BigIntegerField(_("paid by the shopper"), null=True, blank=True)
    prepay_id = models.CharField(max_length=64, blank=True)
    h5_url = models.TextField(blank=True)
    return_url = models.CharField(max_length=500, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    refunded_fen = models.BigIntegerField(_("refunded"), default=0)
    provider_state = models.CharField(_("provider state"), max_length=20, blank=True)
    last_synced_at = models.DateTimeField(_("last asked the provider"), null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        indexes = [
            models.Index(fields=["status", "created_at"], name="payment_status_time_idx"),
            models.Index(fields=["transaction_id"], name="payment_transaction_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_fen__gte=0) & Q(refunded_fen__lte=F("amount_fen")),
                name="payment_refund_within_amount",
            ),
            models.UniqueConstraint(
                fields=["provider", "transaction_id"],
                condition=~Q(transaction_id=""),
                name="payment_unique_transaction",
            ),
            # An order is paid once: at most one payment is applied to it...
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(applied_to_order=True),
                name="payment_one_applied_per_order",
            ),
            # ...and at most one attempt waits for the shopper at a time.
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="pending"),
                name="payment_one_pending_per_order",
            ),
        ]

    def __str__(self) -> str:
        return self.out_trade_no

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refunded_fen

    @property
    def is_paid(self) -> bool:
        from .states import PAID_STATUSES

        return self.status in PAID_STATUSES


class PaymentStatusChange(StatusHistory):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("payment status change")


class RefundOrigin(models.TextChoices):
    ORDER = "order", _("Approved order refund")
    UNAPPLIED = "unapplied", _("Automatic: money for a closed or already-paid order")


class Refund(models.Model):
    """Money going back to the shopper; `out_refund_no` is derived from `refund_key`, so asking the
    provider again for the same refund can never refund twice."""

    refund_key = models.CharField(_("refund key"), max_length=100, unique=True)
    out_refund_no = models.CharField(_("merchant refund number"), max_length=64, unique=True)
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), on_delete=models.PROTECT, related_name="refunds"
    )
    order = models.ForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.PROTECT,
        related_name="payment_refunds",
    )
    origin = models.CharField(_("origin"), max_length=12, choices=RefundOrigin.choices)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=RefundStatus.choices,
        default=RefundStatus.PENDING,
        db_index=True,
    )
    amount_fen = models.BigIntegerField(_("amount"))
    reason = models.CharField(_("reason"), max_length=80, blank=True)
    refund_id = models.CharField(_("provider refund id"), max_length=64, blank=True)
    provider_status = models.CharField(_("provider status"), max_length=20, blank=True)
    user_received_account = models.CharField(_("refunded to"), max_length=64, blank=True)
    succeeded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("provider calls"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    last_synced_at = models.DateTimeField(_("last asked the provider"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        indexes = [models.Index(fields=["status", "created_at"], name="refund_status_time_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no


class RefundStatusChange(StatusHistory):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("refund status change")


class NotificationKind(models.TextChoices):
    PAYMENT = "payment", _("Payment")
    REFUND = "refund", _("Refund")
    OTHER = "other", _("Other")
    UNKNOWN = "", _("Unreadable")


class NotificationLog(models.Model):
    """Every notification request that reached us, genuine or not, and what we made of it."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    notification_id = models.CharField(_("notification id"), max_length=64, blank=True)
    event_type = models.CharField(_("event"), max_length=40, blank=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=NotificationKind.choices, blank=True, default=""
    )
    status = models.CharField(
        _("outcome"),
        max_length=12,
        choices=NotificationStatus.choices,
        default=NotificationStatus.RECEIVED,
    )
    reason = models.CharField(_("reason code"), max_length=32, blank=True)
    message = models.TextField(_("detail"), blank=True)
    http_status = models.PositiveSmallIntegerField(_("answered"), null=True, blank=True)
    out_trade_no = models.CharField(max_length=32, blank=True)
    out_refund_no = models.CharField(max_length=64, blank=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    serial = models.CharField(_("signing key serial"), max_length=64, blank=True)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    body = models.TextField(blank=True)
    # The decrypted resource without the payer's openid.
    resource = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("payment notification")
        verbose_name_plural = _("payment notifications")
        indexes = [
            models.Index(fields=["status", "received_at"], name="paynote_status_time_idx"),
            models.Index(fields=["notification_id"], name="paynote_id_idx"),
            models.Index(fields=["out_trade_no"], name="paynote_trade_idx"),
        ]
        constraints = [
            # The provider's notification id is applied at most once. Rejected and duplicate
            # copies keep their own rows (a forged copy must not block the genuine one).
            models.UniqueConstraint(
                fields=["provider", "notification_id"],
                condition=Q(status="processed") & ~Q(notification_id=""),
                name="paynote_processed_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type or '?'} {self.notification_id or self.pk}"


class NotificationStatusChange(StatusHistory):
    notification = models.ForeignKey(
        NotificationLog, on_delete=models.CASCADE, related_name="history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = _("notification status change")


# --- the dev provider's side ----------------------------------------------------------------------
# These tables play WeChat Pay's part for the dev provider: its own record of trades, refunds and
# the notifications it still has to deliver, independent of our Payment rows (as the real service
# would be), so reconciliation and notification handling are exercised for real.


class DevTrade(models.Model):
    out_trade_no = models.CharField(max_length=32, unique=True)
    prepay_id = models.CharField(max_length=64, unique=True)
    appid = models.CharField(max_length=32)
    mchid = models.CharField(max_length=32)
    trade_type = models.CharField(max_length=16)
    description = models.CharField(max_length=127)
    amount_fen = models.BigIntegerField()
    state = models.CharField(max_length=16, default="NOTPAY")
    transaction_id = models.CharField(max_length=64, blank=True)
    notify_url = models.CharField(max_length=500, blank=True)
    time_expire = models.DateTimeField()
    success_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("dev provider trade")

    def __str__(self) -> str:
        return f"dev trade {self.out_trade_no} {self.state}"


class DevRefund(models.Model):
    out_refund_no = models.CharField(max_length=64, unique=True)
    refund_id = models.CharField(max_length=64, unique=True)
    trade = models.ForeignKey(DevTrade, on_delete=models.CASCADE, related_name="refunds")
    amount_fen = models.BigIntegerField()
    status = models.CharField(max_length=16, default="PROCESSING")
    reason = models.CharField(max_length=80, blank=True)
    notify_url = models.CharField(max_length=500, blank=True)
    success_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("dev provider refund")

    def __str__(self) -> str:
        return f"dev refund {self.out_refund_no} {self.status}"


class DevNotification(models.Model):
    """A notification the dev provider owes us, retried on WeChat Pay's schedule until answered."""

    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40)
    summary = models.CharField(max_length=64)
    original_type = models.CharField(max_length=20)
    resource = models.JSONField()
    notify_url = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=12, default="pending")  # pending, delivered, abandoned
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("dev provider notification")
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="devnote_due_idx")]

    def __str__(self) -> str:
        return f"dev notification {self.event_id} {self.state}"
