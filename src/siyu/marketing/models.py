"""Marketing tables: coupons (the definition an operator sets up, and each copy a customer holds)
and flash sales (an activity with an activity price and quota per SKU).

Invariants live in constraints: a coupon never issues more copies than its total; a flash-sale
item never sells more than its quota; a buyer never holds more than the sale's per-customer limit;
a customer coupon is used by at most one order.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.states import StatusHistory


class CouponKind(models.TextChoices):
    FIXED = "fixed", _("Fixed amount off")
    PERCENT = "percent", _("Percentage off")
    THRESHOLD = "threshold", _("Spend and save (满减)")
    FREE_SHIPPING = "free_shipping", _("Free shipping")


class CouponScope(models.TextChoices):
    SHOP = "shop", _("Whole shop")
    PRODUCTS = "products", _("Chosen products")
    CATEGORIES = "categories", _("Chosen categories")


class CouponStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    STOPPED = "stopped", _("Stopped")


class RefundPolicy(models.TextChoices):
    KEEP = "keep", _("Used up even if the order is refunded")
    RETURN_ON_FULL_REFUND = "return_on_full_refund", _("Returned when the whole order is refunded")


class Coupon(models.Model):
    """A coupon as the operator defines it (券模板). Customers hold copies (`CustomerCoupon`).

    Amounts are fen. `percent_off` is whole percent (15 = 15% off, i.e. 8.5折) with an optional
    cap; a threshold coupon takes `amount_fen` off once the eligible goods reach
    `min_spend_fen`; any kind may also set a minimum spend.
    """

    name = models.CharField(_("name"), max_length=60)
    description = models.CharField(_("description"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=CouponKind.choices)
    amount_fen = models.BigIntegerField(_("amount off (fen)"), default=0)
    percent_off = models.PositiveSmallIntegerField(_("percent off"), default=0)
    max_discount_fen = models.BigIntegerField(_("discount cap (fen)"), null=True, blank=True)
    min_spend_fen = models.BigIntegerField(_("minimum spend (fen)"), default=0)
    scope = models.CharField(
        _("applies to"), max_length=16, choices=CouponScope.choices, default=CouponScope.SHOP
    )
    products = models.ManyToManyField("catalog.Product", blank=True, related_name="+")
    categories = models.ManyToManyField("catalog.Category", blank=True, related_name="+")
    # validity: fixed dates, or N days from the moment a customer gets it
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    valid_days = models.PositiveIntegerField(_("valid days after claim"), null=True, blank=True)
    total_quantity = models.PositiveIntegerField(_("total quantity"), null=True, blank=True)
    per_customer_limit = models.PositiveIntegerField(_("per customer"), default=1)
    issued_count = models.PositiveIntegerField(default=0)
    claimable = models.BooleanField(_("shown in the coupon centre"), default=True)
    share_code = models.CharField(max_length=16, unique=True)
    refund_policy = models.CharField(
        _("on refund"),
        max_length=24,
        choices=RefundPolicy.choices,
        default=RefundPolicy.RETURN_ON_FULL_REFUND,
    )
    status = models.CharField(
        _("status"), max_length=12, choices=CouponStatus.choices, default=CouponStatus.DRAFT
    )
    created_by = models.ForeignKey(
        "staff.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_quantity__isnull=True) | Q(issued_count__lte=F("total_quantity")),
                name="coupon_issued_within_total",
            ),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="coupon_amount_nonneg"),
            models.CheckConstraint(condition=Q(percent_off__lte=99), name="coupon_percent_range"),
            models.CheckConstraint(
                condition=Q(per_customer_limit__gte=1), name="coupon_per_customer_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining(self) -> int | None:
        if self.total_quantity is None:
            return None
        return max(0, self.total_quantity - self.issued_count)


class CustomerCouponStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


class CouponSource(models.TextChoices):
    CLAIM = "claim", _("Claimed in the coupon centre")
    SHARE = "share", _("Claimed from a share link")
    ISSUE = "issue", _("Issued by an operator")
    REWARD = "reward", _("Granted as a reward")


class CustomerCoupon(models.Model):
    """One copy of a coupon held by one customer (用户券). `code` is what checkout asks for.

    `grant_key` makes every grant idempotent (a claim, a reward, a bulk issue each derive one);
    `order_id` is the order that used it (cleared when a cancellation gives it back).
    """

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="copies")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="coupons"
    )
    code = models.CharField(max_length=20, unique=True)
    status = models.CharField(
        max_length=12,
        choices=CustomerCouponStatus.choices,
        default=CustomerCouponStatus.AVAILABLE,
    )
    source = models.CharField(max_length=12, choices=CouponSource.choices)
    source_detail = models.CharField(max_length=64, blank=True)
    grant_key = models.CharField(max_length=128, unique=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    discount_fen = models.BigIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    times_returned = models.PositiveSmallIntegerField(default=0)
    issue = models.ForeignKey(
        "CouponIssue", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "status"], name="custcoupon_customer_status"),
            models.Index(fields=["coupon", "status"], name="custcoupon_coupon_status"),
            models.Index(fields=["order"], name="custcoupon_order"),
        ]
        constraints = [
            # an order uses at most one copy, and a used copy always names its order
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="used"),
                name="custcoupon_one_per_order",
            ),
            models.CheckConstraint(
                condition=~Q(status="used") | Q(order__isnull=False),
                name="custcoupon_used_has_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id}:{self.code} ({self.status})"


class CustomerCouponChange(StatusHistory):
    customer_coupon = models.ForeignKey(
        CustomerCoupon, on_delete=models.CASCADE, related_name="history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = _("coupon status change")


class CouponIssue(models.Model):
    """One bulk issue by an operator: a coupon sent to a customer list or a segment."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="issues")
    segment_id = models.BigIntegerField(null=True, blank=True)
    target_label = models.CharField(max_length=120, blank=True)
    requested = models.PositiveIntegerField(default=0)
    issued = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    notify = models.BooleanField(default=False)
    notified = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        "staff.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"issue {self.pk} of coupon {self.coupon_id}"


class CouponNotice(models.Model):
    """An outbox row: tell a contactable customer they received a coupon. Only customers who
    pass `customers.services.contactable` get one; the messaging channel delivers them."""

    customer_coupon = models.OneToOneField(
        CustomerCoupon, on_delete=models.CASCADE, related_name="notice"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"notice to {self.customer_id} via {self.channel}"


class SaleKind(models.TextChoices):
    FLASH_SALE = "flash_sale", _("Flash sale (秒杀)")
    DAILY_SPECIAL = "daily_special", _("Daily special (每日爆款)")


class SaleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CANCELLED = "cancelled", _("Cancelled")


class FlashSale(models.Model):
    """A limited-time activity: activity prices and quotas per SKU, a per-customer limit."""

    title = models.CharField(_("title"), max_length=60)
    kind = models.CharField(
        _("kind"), max_length=16, choices=SaleKind.choices, default=SaleKind.FLASH_SALE
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    per_customer_limit = models.PositiveIntegerField(_("per customer"), default=1)
    status = models.CharField(
        _("status"), max_length=12, choices=SaleStatus.choices, default=SaleStatus.DRAFT
    )
    created_by = models.ForeignKey(
        "staff.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="sale_ends_after"),
            models.CheckConstraint(
                condition=Q(per_customer_limit__gte=1), name="sale_limit_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == SaleStatus.PUBLISHED and self.starts_at <= now < self.ends_at


class FlashSaleItem(models.Model):
    """One SKU in a sale: its activity price and quota. `sold` counts units held by unpaid and
    paid orders; a cancelled or timed-out order gives its units back."""

    sale = models.ForeignKey(FlashSale, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    price_fen = models.BigIntegerField(_("activity price (fen)"))
    quota = models.PositiveIntegerField(_("quota"))
    sold = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sale_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sale", "sku"], name="sale_item_unique_sku"),
            models.CheckConstraint(
                condition=Q(sold__lte=F("quota")), name="sale_item_not_oversold"
            ),
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="sale_item_price_nonneg"),
        ]

    def __str__(self) -> str:
        return f"sku {self.sku_id} in sale {self.sale_id}"

    @property
    def left(self) -> int:
        return max(0, self.quota - self.sold)


class FlashSaleBuyer(models.Model):
    """How many units one customer holds in one sale: the per-customer limit's counter."""

    sale = models.ForeignKey(FlashSale, on_delete=models.CASCADE, related_name="buyers")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sale", "customer"], name="sale_buyer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} holds {self.quantity} in sale {self.sale_id}"


class ReservationStatus(models.TextChoices):
    HELD = "held", _("Held (awaiting payment)")
    PAID = "paid", _("Paid")
    RELEASED = "released", _("Released")


class FlashSaleReservation(models.Model):
    """Units of a sale item an order holds. Released when the order is cancelled or times out."""

    item = models.ForeignKey(FlashSaleItem, on_delete=models.CASCADE, related_name="reservations")
    sale = models.ForeignKey(FlashSale, on_delete=models.CASCADE, related_name="reservations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField()
    price_fen = models.BigIntegerField()
    status = models.CharField(
        max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.HELD
    )
    token = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "item"], name="reservation_unique_item"),
        ]
        indexes = [models.Index(fields=["item", "status"], name="reservation_item_status")]

    def __str__(self) -> str:
        return f"{self.quantity} of item {self.item_id} for order {self.order_id}"
