"""Orders from every place a customer buys: the mall, group buys, stores, and imported platforms."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.fields import EncryptedTextField
from siyu.core.states import StatusHistory


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Pending payment")
    PAID = "paid", _("Paid")
    PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")
    CLOSED = "closed", _("Closed")


class Channel(models.TextChoices):
    """Where the sale happened; kept on the order even when the customer's owner changes."""

    MALL = "mall", _("Mall")
    GROUP_BUY = "group_buy", _("Group buy")
    FLASH_SALE = "flash_sale", _("Flash sale")
    LIVE = "live", _("Live stream")
    DISTRIBUTOR = "distributor", _("Distributor link")
    CLERK = "clerk", _("Store clerk")
    LEADER = "leader", _("Community leader")
    STORE = "store", _("Offline store")
    PLATFORM = "platform", _("Imported platform")


class Platform(models.TextChoices):
    TMALL = "tmall", _("Tmall / Taobao")
    JD = "jd", _("JD")
    DOUYIN = "douyin", _("Douyin")
    PDD = "pdd", _("Pinduoduo")
    YOUZAN = "youzan", _("Youzan")
    OTHER = "other", _("Other platform")


class DeliveryMethod(models.TextChoices):
    DELIVERY = "delivery", _("Delivery")
    PICKUP = "pickup", _("Store pickup")


class Order(models.Model):
    number = models.CharField(_("order number"), max_length=40, unique=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="orders",
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, db_index=True)
    platform = models.CharField(_("platform"), max_length=10, choices=Platform.choices, blank=True)
    external_id = models.CharField(_("platform order id"), max_length=64, blank=True)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=OrderStatus.choices,
        default=OrderStatus.PENDING_PAYMENT,
        db_index=True,
    )
    goods_amount_fen = models.BigIntegerField(_("goods amount"), default=0)
    discount_fen = models.BigIntegerField(_("discount"), default=0)
    shipping_fen = models.BigIntegerField(_("shipping"), default=0)
    payable_fen = models.BigIntegerField(_("amount payable"), default=0)
    paid_fen = models.BigIntegerField(_("amount paid"), default=0)
    refunded_fen = models.BigIntegerField(_("amount refunded"), default=0)
    cost_fen = models.BigIntegerField(_("cost of goods"), default=0)
    placed_at = models.DateTimeField(_("placed at"), default=timezone.now, db_index=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True, db_index=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    receiver_name = EncryptedTextField(_("receiver"), blank=True, default="")
    receiver_phone = EncryptedTextField(_("receiver phone"), blank=True, default="")
    receiver_address = EncryptedTextField(_("receiver address"), blank=True, default="")
    receiver_province = models.CharField(_("province"), max_length=30, blank=True)
    receiver_city = models.CharField(_("city"), max_length=30, blank=True)
    receiver_district = models.CharField(_("district"), max_length=30, blank=True)
    delivery_method = models.CharField(
        _("delivery method"),
        max_length=10,
        choices=DeliveryMethod.choices,
        default=DeliveryMethod.DELIVERY,
    )
    # Shown to the shopper once paid; the clerk checks it when handing a pickup order over.
    pickup_code = models.CharField(_("pickup code"), max_length=8, blank=True)
    store = models.ForeignKey(
        "staff.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    # Attribution, fixed when the order is placed: who is credited with the sale.
    credited_kind = models.CharField(_("credited to"), max_length=12, blank=True)
    credited_id = models.BigIntegerField(null=True, blank=True)
    credited_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("credited clerk"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="credited_orders",
    )
    buyer_note = models.CharField(_("buyer note"), max_length=500, blank=True)
    # The client's Idempotency-Key: the same key from the same customer returns the same order.
    idempotency_key = models.CharField(max_length=64, blank=True, default="")
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    payment_deadline = models.DateTimeField(_("pay before"), null=True, blank=True)
    # Why a paid order may not ship yet, e.g. "group_buy:42" until its group succeeds. Set at
    # placement by the app that owns the hold, cleared only through release_fulfilment_hold().
    fulfilment_hold = models.CharField(_("fulfilment hold"), max_length=64, blank=True, default="")
    payment_id = models.BigIntegerField(null=True, blank=True)
    transaction_id = models.CharField(_("payment transaction id"), max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["customer", "placed_at"], name="order_customer_time_idx"),
            models.Index(fields=["status", "placed_at"], name="order_status_time_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"],
                condition=~Q(external_id=""),
                name="order_unique_platform_external_id",
            ),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="order_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(goods_amount_fen__gte=0)
                & Q(discount_fen__gte=0)
                & Q(shipping_fen__gte=0)
                & Q(payable_fen__gte=0)
                & Q(paid_fen__gte=0)
                & Q(refunded_fen__gte=0),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=F("paid_fen")), name="order_refund_within_paid"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_pickup(self) -> bool:
        return self.delivery_method == DeliveryMethod.PICKUP

    @property
    def is_imported(self) -> bool:
        return self.channel == Channel.PLATFORM

    @property
    def margin_fen(self) -> int:
        """Gross margin: what the shopper paid for goods (net of refunds) minus their cost."""
        return self.goods_amount_fen - self.discount_fen - self.refunded_fen - self.cost_fen


class OrderLine(models.Model):
    """One item of an order, with the price and cost copied at purchase time."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField(default=1)
    product_title = models.CharField(_("product"), max_length=255)
    spec_text = models.CharField(_("spec"), max_length=255, blank=True)
    external_sku = models.CharField(_("merchant SKU code"), max_length=64, blank=True)
    external_line_id = models.CharField(_("platform line id"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price_fen = models.BigIntegerField(_("unit price"), default=0)
    amount_fen = models.BigIntegerField(_("amount"), default=0)
    discount_fen = models.BigIntegerField(_("discount share"), default=0)
    paid_fen = models.BigIntegerField(_("paid"), default=0)
    cost_fen = models.BigIntegerField(_("cost"), default=0)
    refunded_fen = models.BigIntegerField(_("refunded"), default=0)
    refunded_quantity = models.PositiveIntegerField(default=0)
    # Catalogue links (empty on imported platform lines that match no SKU).
    sku = models.ForeignKey(
        "catalog.Sku",
        verbose_name=_("SKU"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_lines",
    )
    list_price_fen = models.BigIntegerField(_("list price"), default=0)
    fulfilment = models.CharField(_("fulfilment"), max_length=10, blank=True)
    supplier = models.ForeignKey(
        "catalog.Supplier",
        verbose_name=_("supplier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_lines",
    )
    # Where the units are reserved (merchant stock only).
    location = models.ForeignKey(
        "catalog.Location",
        verbose_name=_("stock location"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_lines",
    )
    shipped_quantity = models.PositiveIntegerField(_("shipped"), default=0)
    # Reserved units given back unshipped (order cancelled, line refunded before shipping).
    released_quantity = models.PositiveIntegerField(default=0)
    returned_quantity = models.PositiveIntegerField(_("returned"), default=0)

    class Meta:
        ordering = ["order_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_unique_no"),
            models.CheckConstraint(
                condition=Q(amount_fen__gte=0)
                & Q(paid_fen__gte=0)
                & Q(refunded_fen__gte=0)
                & Q(refunded_fen__lte=F("paid_fen"))
                & Q(refunded_quantity__lte=F("quantity")),
                name="order_line_amounts_valid",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=F("shipped_quantity") + F("released_quantity")),
                name="order_line_shipped_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_title} × {self.quantity}"

    @property
    def payable_fen(self) -> int:
        """What this line costs the shopper after its discount share (shipping excluded)."""
        return self.amount_fen - self.discount_fen

    @property
    def to_ship(self) -> int:
        return self.quantity - self.shipped_quantity - self.released_quantity

    @property
    def is_drop_ship(self) -> bool:
        return self.fulfilment == "drop_ship"

    @property
    def margin_fen(self) -> int:
        return self.amount_fen - self.discount_fen - self.cost_fen


class OrderStatusChange(StatusHistory):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("order status change")


class OrderAdjustment(models.Model):
    """A price adjustment applied when the order was priced: a coupon, member price, flash-sale
    price... `line` is set for the per-line share; order-level rows have no line."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="adjustments")
    line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.CASCADE, related_name="adjustments"
    )
    code = models.CharField(max_length=40)
    label = models.CharField(max_length=120)
    amount_fen = models.BigIntegerField()
    ref = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["order_id", "id"]

    def __str__(self) -> str:
        return f"{self.code} -{self.amount_fen} on {self.order_id}"


class CartItem(models.Model):
    """A SKU in a shopper's cart. Prices are never stored: checkout prices on the server."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="cart_items"
    )
    sku = models.ForeignKey("catalog.Sku", on_delete=models.CASCADE, related_name="cart_items")
    quantity = models.PositiveIntegerField(default=1)
    selected = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "sku"], name="cart_unique_sku"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} × {self.quantity} for {self.customer_id}"


class Shipment(models.Model):
    """A parcel that left for the shopper (or was handed over at the store)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=64, blank=True)
    purchase_order = models.ForeignKey(
        "PurchaseOrder",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="shipments",
    )
    shipped_at = models.DateTimeField(_("shipped at"), default=timezone.now)
    shipped_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["shipped_at", "id"]
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_no}".strip()


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="shipment_lines")
    quantity = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.line_id} × {self.quantity}"


class AfterSaleKind(models.TextChoices):
    REFUND_ONLY = "refund_only", _("Refund only")
    RETURN_REFUND = "return_refund", _("Return and refund")


class AfterSaleStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    AWAITING_RETURN = "awaiting_return", _("Awaiting return")
    RETURN_SHIPPED = "return_shipped", _("Return on its way")
    REFUNDING = "refunding", _("Refunding")
    REFUND_FAILED = "refund_failed", _("Refund failed")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class AfterSaleReason(models.TextChoices):
    NOT_WANTED = "not_wanted", _("No longer wanted")
    NOT_RECEIVED = "not_received", _("Not received")
    DAMAGED = "damaged", _("Damaged or defective")
    WRONG_ITEM = "wrong_item", _("Wrong item")
    NOT_AS_DESCRIBED = "not_as_described", _("Not as described")
    ALLERGY = "allergy", _("Skin reaction / allergy")
    MERCHANT = "merchant", _("Merchant-initiated")
    OTHER = "other", _("Other")


class AfterSale(models.Model):
    """An after-sales case (售后): refund only, or return and refund, for some units of some lines.

    `refund_key` is stable for this case and becomes the payment provider's out_refund_no, so a
    retried refund never pays out twice.
    """

    number = models.CharField(_("number"), max_length=40, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="after_sales")
    kind = models.CharField(_("kind"), max_length=16, choices=AfterSaleKind.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=AfterSaleStatus.choices,
        default=AfterSaleStatus.REQUESTED,
        db_index=True,
    )
    reason = models.CharField(_("reason"), max_length=20, choices=AfterSaleReason.choices)
    description = models.TextField(_("description"), blank=True)
    amount_fen = models.BigIntegerField(_("refund amount"))
    shipping_fen = models.BigIntegerField(_("shipping refunded"), default=0)
    refund_key = models.CharField(max_length=64, unique=True)
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    return_carrier = models.CharField(_("return carrier"), max_length=40, blank=True)
    return_tracking_no = models.CharField(_("return tracking number"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("return received at"), null=True, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("after-sales case")
        verbose_name_plural = _("after-sales cases")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_fen__gte=0) & Q(shipping_fen__gte=0),
                name="after_sale_amount_not_negative",
            )
        ]

    def __str__(self) -> str:
        return self.number


class AfterSaleLine(models.Model):
    after_sale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="lines")
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="after_sale_lines")
    quantity = models.PositiveIntegerField()
    amount_fen = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["after_sale", "line"], name="after_sale_line_once"),
            models.CheckConstraint(
                condition=Q(amount_fen__gte=0) & Q(quantity__gte=1),
                name="after_sale_line_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} × {self.quantity}"


class AfterSaleStatusChange(StatusHistory):
    after_sale = models.ForeignKey(AfterSale, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("after-sales status change")


class PurchaseOrderStatus(models.TextChoices):
    PENDING = "pending", _("To send")
    SENT = "sent", _("Sent to supplier")
    SHIPPED = "shipped", _("Shipped")
    CANCELLED = "cancelled", _("Cancelled")


class PurchaseOrder(models.Model):
    """What a supplier must ship to the shopper for one paid order's drop-ship lines (一件代发)."""

    number = models.CharField(_("number"), max_length=40, unique=True)
    supplier = models.ForeignKey(
        "catalog.Supplier",
        verbose_name=_("supplier"),
        on_delete=models.PROTECT,
        related_name="purchase_orders",
    )
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=PurchaseOrderStatus.choices,
        default=PurchaseOrderStatus.PENDING,
        db_index=True,
    )
    cost_fen = models.BigIntegerField(_("cost"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        constraints = [
            models.UniqueConstraint(fields=["order", "supplier"], name="purchase_order_once"),
        ]
        indexes = [models.Index(fields=["supplier", "status"], name="po_supplier_status_idx")]

    def __str__(self) -> str:
        return self.number


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    line = models.OneToOneField(
        OrderLine, on_delete=models.PROTECT, related_name="purchase_order_line"
    )
    quantity = models.PositiveIntegerField()
    cost_fen = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.line_id} × {self.quantity}"


class PurchaseOrderStatusChange(StatusHistory):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="history"
    )

    class Meta(StatusHistory.Meta):
        verbose_name = _("purchase order status change")
