"""The catalogue (products, SKUs, categories, brands, suppliers) and stock per location.

Stock is one row per (SKU, location) with `on_hand` and `reserved` counters that database CHECKs
keep sane (never negative, never more reserved than on hand); every change to them is an
append-only `StockMovement` written in the same transaction.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    """A node of the category tree (at most three levels: 护肤 › 面部护理 › 精华)."""

    MAX_DEPTH = 3

    name = models.CharField(_("name"), max_length=50)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent category"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    sort = models.IntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sort", "id"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="category_not_own_parent"),
        ]

    def __str__(self) -> str:
        return self.name


class Brand(models.Model):
    name = models.CharField(_("name"), max_length=80, unique=True)
    logo = models.FileField(_("logo"), upload_to="catalog/brands/", blank=True)
    story = models.TextField(_("brand story"), blank=True)
    sort = models.IntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sort", "name"]
        verbose_name = _("brand")
        verbose_name_plural = _("brands")

    def __str__(self) -> str:
        return self.name


class Supplier(models.Model):
    """A supplier that ships drop-ship SKUs straight to the shopper (一件代发)."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    contact_name = models.CharField(_("contact"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=30, blank=True)
    email = models.EmailField(_("email"), blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ProductStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ON_SHELF = "on_shelf", _("On shelf")
    OFF_SHELF = "off_shelf", _("Off shelf")


class Product(models.Model):
    """A product as shoppers see it (SPU); what they buy is one of its SKUs."""

    title = models.CharField(_("title"), max_length=120)
    subtitle = models.CharField(_("subtitle"), max_length=200, blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="products"
    )
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("brand"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
    )
    description = models.TextField(_("description"), blank=True)
    # The spec dimensions its SKUs vary on, in display order, e.g. ["规格", "颜色"].
    spec_names = models.JSONField(_("spec names"), default=list, blank=True)
    status = models.CharField(
        _("shelf status"),
        max_length=10,
        choices=ProductStatus.choices,
        default=ProductStatus.DRAFT,
        db_index=True,
    )
    per_customer_limit = models.PositiveIntegerField(
        _("limit per customer"),
        null=True,
        blank=True,
        help_text=_("Most units one customer may buy in total; empty for no limit."),
    )
    usage_days = models.PositiveSmallIntegerField(
        _("usage cycle (days)"),
        null=True,
        blank=True,
        help_text=_("How long one unit lasts, for replenishment reminders (e.g. 30)."),
    )
    is_featured = models.BooleanField(_("featured"), default=False)
    sort = models.IntegerField(_("sort order"), default=0)
    on_shelf_at = models.DateTimeField(_("put on shelf at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        indexes = [
            models.Index(fields=["status", "category"], name="product_status_category_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_on_shelf(self) -> bool:
        return self.status == ProductStatus.ON_SHELF


def _image_path(instance: ProductImage, filename: str) -> str:
    stamp = timezone.now().strftime("%Y/%m")
    return f"catalog/products/{stamp}/{instance.product_id}-{filename}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(_("image"), upload_to=_image_path)
    alt = models.CharField(_("description"), max_length=120, blank=True)
    sort = models.IntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sort", "id"]
        verbose_name = _("product image")
        verbose_name_plural = _("product images")

    def __str__(self) -> str:
        return self.file.name


class Fulfilment(models.TextChoices):
    STOCKED = "stocked", _("Merchant stock")
    DROP_SHIP = "drop_ship", _("Drop-shipped by supplier (一件代发)")


class Sku(models.Model):
    """One buyable variant with its own code, price, cost and stock."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    code = models.CharField(_("SKU code"), max_length=64, unique=True)
    spec_values = models.JSONField(_("spec values"), default=dict, blank=True)
    barcode = models.CharField(_("barcode"), max_length=32, blank=True)
    price_fen = models.BigIntegerField(_("price"))
    list_price_fen = models.BigIntegerField(_("list price"), default=0)
    cost_fen = models.BigIntegerField(_("cost"), default=0)
    weight_g = models.PositiveIntegerField(_("weight (g)"), default=0)
    fulfilment = models.CharField(
        _("fulfilment"), max_length=10, choices=Fulfilment.choices, default=Fulfilment.STOCKED
    )
    supplier = models.ForeignKey(
        Supplier,
        verbose_name=_("supplier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="skus",
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    sort = models.IntegerField(_("sort order"), default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "sort", "id"]
        verbose_name = _("SKU")
        verbose_name_plural = _("SKUs")
        constraints = [
            models.CheckConstraint(
                condition=Q(price_fen__gte=0) & Q(list_price_fen__gte=0) & Q(cost_fen__gte=0),
                name="sku_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(fulfilment="stocked") | Q(supplier__isnull=False),
                name="sku_drop_ship_has_supplier",
            ),
        ]

    def __str__(self) -> str:
        spec = self.spec_text
        return f"{self.code} {spec}".strip()

    @property
    def spec_text(self) -> str:
        """ "50ml / 经典款": the spec values in the product's spec order."""
        values = self.spec_values or {}
        names = list(self.product.spec_names or []) if self.product_id else []
        ordered = [str(values[n]) for n in names if values.get(n)]
        ordered += [str(v) for k, v in values.items() if k not in names and v]
        return " / ".join(ordered)

    @property
    def is_drop_ship(self) -> bool:
        return self.fulfilment == Fulfilment.DROP_SHIP

    @property
    def margin_fen(self) -> int:
        return self.price_fen - self.cost_fen


class LocationKind(models.TextChoices):
    WAREHOUSE = "warehouse", _("Warehouse")
    STORE = "store", _("Store")


class Location(models.Model):
    """Where stock is held: a warehouse that ships online orders, or a store (pickup point)."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=LocationKind.choices)
    store = models.OneToOneField(
        "staff.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="stock_location",
    )
    ships_online = models.BooleanField(
        _("ships online orders"),
        default=False,
        help_text=_("Delivery orders reserve stock here, in priority order."),
    )
    is_pickup = models.BooleanField(
        _("pickup point"), default=False, help_text=_("Shoppers may collect orders here.")
    )
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Lower ships first."))
    address = models.CharField(_("address"), max_length=255, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("stock location")
        verbose_name_plural = _("stock locations")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="store") | Q(store__isnull=False),
                name="location_store_kind_has_store",
            )
        ]

    def __str__(self) -> str:
        return self.name


class StockLevel(models.Model):
    """Units of one SKU at one location: `on_hand` physically there, `reserved` promised to
    placed orders that have not shipped. Available to sell = on_hand - reserved."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="stock_levels")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField(_("on hand"), default=0)
    reserved = models.IntegerField(_("reserved"), default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sku_id", "location_id"]
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.UniqueConstraint(fields=["sku", "location"], name="stock_unique_sku_location"),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0) & Q(reserved__gte=0) & Q(reserved__lte=F("on_hand")),
                name="stock_never_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id}: {self.on_hand} ({self.reserved} reserved)"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockReason(models.TextChoices):
    ADJUSTMENT = "adjustment", _("Adjustment")
    RESERVATION = "reservation", _("Reservation")
    RELEASE = "release", _("Release")
    SALE = "sale", _("Sale")
    RETURN = "return", _("Return")


class StockMovement(models.Model):
    """Append-only log of every change to a stock level, with the counters after it.

    `key` is a unique business key for movements caused by an order ("release:line:42"), so a
    retried job can never move the same stock twice.
    """

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="movements")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="movements")
    reason = models.CharField(_("reason"), max_length=12, choices=StockReason.choices)
    on_hand_delta = models.IntegerField(_("on hand change"), default=0)
    reserved_delta = models.IntegerField(_("reserved change"), default=0)
    on_hand_after = models.IntegerField(_("on hand after"))
    reserved_after = models.IntegerField(_("reserved after"))
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    key = models.CharField(max_length=80, blank=True, default="")
    note = models.CharField(_("note"), max_length=255, blank=True)
    actor_label = models.CharField(_("by"), max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        indexes = [models.Index(fields=["sku", "id"], name="movement_sku_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=~Q(key=""), name="movement_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.on_hand_delta:+}/{self.reserved_delta:+} of {self.sku_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("stock movements are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("stock movements are append-only")
