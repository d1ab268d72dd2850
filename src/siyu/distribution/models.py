"""Distribution (分销), compliant by construction: distributors, their share links and the customers
those links bind, commission rates, and one commission record per order line and level.

Compliance lives in the schema, not only in forms:
* a distributor tree is at most two deep (`depth` 1 or 2, CHECKs here and a trigger that checks
  the parent's depth), commissions have `level` 1 or 2, the programme's `levels` is 1 or 2;
* `ProgramSettings` has no entry fee and no purchase threshold, and a test keeps it that way;
* commissions exist only per paid order line (unique per line and level), from what was paid.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.states import StatusHistory

MAX_LEVELS = 2


class JoinMode(models.TextChoices):
    OPEN = "open", _("Open to every customer")
    APPLICATION = "application", _("Application, approved by an operator")
    INVITATION = "invitation", _("By invitation only")


class BindingRule(models.TextChoices):
    FIRST_PERMANENT = "first_permanent", _("First click, permanent")
    FIRST_DAYS = "first_days", _("First click, valid for N days")
    LAST_DAYS = "last_days", _("Last click within N days")


class ProgramSettings(models.Model):
    """The distribution programme's rules (one row). There is deliberately no entry fee, no
    purchase threshold and no recruiting bonus here: becoming a distributor is free and commission
    comes only from paid sales (docs/distribution.md)."""

    join_mode = models.CharField(
        _("how customers join"), max_length=16, choices=JoinMode.choices, default=JoinMode.OPEN
    )
    levels = models.PositiveSmallIntegerField(
        _("commission levels"),
        default=1,
        choices=[
            (1, _("1 level (the seller)")),
            (2, _("2 levels (the seller and who recruited them)")),
        ],
    )
    binding_rule = models.CharField(
        _("customer binding"),
        max_length=16,
        choices=BindingRule.choices,
        default=BindingRule.FIRST_DAYS,
    )
    binding_days = models.PositiveIntegerField(
        _("binding days"),
        default=30,
        help_text=_("How long a binding lasts (the N in the rules above)."),
    )
    self_purchase_rebate = models.BooleanField(
        _("distributors earn on their own purchases"), default=True
    )
    after_sales_days = models.PositiveIntegerField(
        _("after-sales window (days after completion)"),
        default=7,
        help_text=_("Commissions stay frozen this long after an order completes, then settle."),
    )
    min_withdrawal_fen = models.BigIntegerField(_("minimum withdrawal"), default=1000)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = _("distribution settings")
        verbose_name_plural = _("distribution settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(levels__gte=1) & Q(levels__lte=MAX_LEVELS),
                name="distribution_settings_levels_1_or_2",
            ),
            models.CheckConstraint(
                condition=Q(binding_days__gte=1) & Q(binding_days__lte=3650),
                name="distribution_settings_binding_days_range",
            ),
            models.CheckConstraint(
                condition=Q(after_sales_days__lte=365),
                name="distribution_settings_after_sales_range",
            ),
            models.CheckConstraint(
                condition=Q(min_withdrawal_fen__gte=10),
                name="distribution_settings_min_withdrawal",
            ),
        ]

    def __str__(self) -> str:
        return "distribution settings"


class DistributorLevel(models.Model):
    """A tier of distributors with its commission rates (basis points: 1000 = 10%)."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    rate1_bp = models.PositiveIntegerField(_("seller's rate (bp)"))
    rate2_bp = models.PositiveIntegerField(_("recruiter's rate (bp)"), default=0)
    is_default = models.BooleanField(_("default for new distributors"), default=False)
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("distributor level")
        verbose_name_plural = _("distributor levels")
        constraints = [
            # Both levels together never pay out more than the line earned.
            models.CheckConstraint(
                condition=Q(rate1_bp__lte=10000) & Q(rate2_bp__lte=10000 - F("rate1_bp")),
                name="distributor_level_rates_within_sale",
            ),
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="distributor_level_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DistributorStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")


class JoinedVia(models.TextChoices):
    OPEN = "open", _("Joined (open programme)")
    APPLICATION = "application", _("Application approved")
    INVITATION = "invitation", _("Invitation")
    OPERATOR = "operator", _("Added by an operator")


class Distributor(models.Model):
    """A customer who sells with their own share link. Joining is free; `parent` is who recruited
    them, and the tree is never more than two deep."""

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="distributor",
    )
    code = models.CharField(_("share code"), max_length=12, unique=True)
    display_name = models.CharField(_("shop name"), max_length=50)
    level = models.ForeignKey(
        DistributorLevel, verbose_name=_("level"), on_delete=models.PROTECT, related_name="+"
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("recruited by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recruits",
    )
    depth = models.PositiveSmallIntegerField(_("depth"), default=1)
    # Who invited them, even when that could not make a parent (the inviter was at depth 2).
    invited_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="invitees"
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=DistributorStatus.choices,
        default=DistributorStatus.ACTIVE,
        db_index=True,
    )
    joined_via = models.CharField(_("joined via"), max_length=12, choices=JoinedVia.choices)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("distributor")
        verbose_name_plural = _("distributors")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(depth__gte=1) & Q(depth__lte=MAX_LEVELS),
                name="distributor_depth_at_most_2",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True, depth=1) | Q(parent__isnull=False, depth=2),
                name="distributor_depth_matches_parent",
            ),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="distributor_not_own_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.code})"

    def save(self, *args, **kwargs):
        self.depth = 2 if self.parent_id else 1
        self.clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.parent_id is not None:
            if self.parent_id == self.pk:
                raise ValidationError({"parent": _("A distributor cannot recruit themselves.")})
            if self.parent.depth != 1:
                raise ValidationError(
                    {
                        "parent": _(
                            "Distribution has at most two levels: pick a top-level recruiter."
                        )
                    }
                )
            if self.pk and self.recruits.exists():
                raise ValidationError(
                    {"parent": _("This distributor has recruits; they cannot get a recruiter too.")}
                )

    @property
    def is_active(self) -> bool:
        return self.status == DistributorStatus.ACTIVE


class ApplicationStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class DistributorApplication(models.Model):
    """A customer asking to become a distributor (when the programme is "by application")."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="distributor_applications"
    )
    display_name = models.CharField(_("shop name"), max_length=50)
    motivation = models.CharField(_("why they want to join"), max_length=500, blank=True)
    invited_by = models.ForeignKey(
        Distributor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.PENDING,
        db_index=True,
    )
    reject_reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("distributor application")
        verbose_name_plural = _("distributor applications")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status="pending"),
                name="distributor_application_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"application {self.pk} ({self.status})"


class Invitation(models.Model):
    """An invitation code an operator hands out (invitation mode; distributors' own share codes
    invite too)."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    note = models.CharField(_("note"), max_length=100, blank=True)
    max_uses = models.PositiveIntegerField(_("uses allowed"), default=1)
    used_count = models.PositiveIntegerField(_("used"), default=0)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.CheckConstraint(
                condition=Q(used_count__lte=F("max_uses")), name="invitation_uses_within_limit"
            )
        ]

    def __str__(self) -> str:
        return self.code


class LinkClick(models.Model):
    """A visit through a distributor's share link: the evidence behind every binding."""

    distributor = models.ForeignKey(Distributor, on_delete=models.CASCADE, related_name="clicks")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    clicked_at = models.DateTimeField(default=timezone.now)
    landing = models.CharField(max_length=200, blank=True)
    # What the click did to the customer's binding: bound, extended, kept (another binding
    # held), self (the distributor's own click), anonymous (not logged in yet).
    outcome = models.CharField(max_length=12, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["distributor", "clicked_at"], name="dist_click_distributor_idx"),
            models.Index(fields=["customer", "clicked_at"], name="dist_click_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"click on {self.distributor_id} at {self.clicked_at:%Y-%m-%d %H:%M}"


class Binding(models.Model):
    """Which distributor referred a customer, from which click, until when. One open binding per
    customer; expired or replaced ones stay as history."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="distributor_bindings"
    )
    distributor = models.ForeignKey(Distributor, on_delete=models.PROTECT, related_name="bindings")
    click = models.ForeignKey(LinkClick, null=True, blank=True, on_delete=models.SET_NULL)
    rule = models.CharField(max_length=16, choices=BindingRule.choices)
    bound_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["distributor", "bound_at"], name="dist_binding_dist_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(ended_at__isnull=True),
                name="distributor_binding_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} -> distributor {self.distributor_id}"

    def in_force(self, now) -> bool:
        return self.ended_at is None and (self.expires_at is None or self.expires_at > now)


class RateMode(models.TextChoices):
    PERCENT = "percent", _("Percentage of the amount paid")
    FIXED = "fixed", _("Fixed amount per item")


class ProductRate(models.Model):
    """A product's own commission rate, overriding the distributor's level rate for it: a
    percentage of what was paid (basis points) or a fixed amount per item (fen)."""

    product = models.OneToOneField(
        "catalog.Product",
        verbose_name=_("product"),
        on_delete=models.CASCADE,
        related_name="distribution_rate",
    )
    mode = models.CharField(_("mode"), max_length=8, choices=RateMode.choices)
    level1_value = models.BigIntegerField(_("seller's rate"))
    level2_value = models.BigIntegerField(_("recruiter's rate"), default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("product commission rate")
        verbose_name_plural = _("product commission rates")
        constraints = [
            models.CheckConstraint(
                condition=Q(level1_value__gte=0) & Q(level2_value__gte=0),
                name="product_rate_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(mode="fixed")
                | Q(level1_value__lte=10000) & Q(level2_value__lte=10000 - F("level1_value")),
                name="product_rate_percent_within_sale",
            ),
        ]

    def __str__(self) -> str:
        return f"rate for product {self.product_id}"


class CommissionStatus(models.TextChoices):
    PENDING = "pending", _("Pending (order paid)")
    FROZEN = "frozen", _("Frozen (after-sales window)")
    SETTLED = "settled", _("Settled (withdrawable)")
    REVERSED = "reversed", _("Reversed (refunded before settlement)")
    CLAWED_BACK = "clawed_back", _("Clawed back (refunded after settlement)")


class Commission(models.Model):
    """What one distributor earns on one paid order line at one level. The rate is copied here
    when the order is paid, so later rate changes never rewrite it."""

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="+")
    level = models.PositiveSmallIntegerField(_("level"))
    distributor = models.ForeignKey(
        Distributor, on_delete=models.PROTECT, related_name="commissions"
    )
    buyer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    base_fen = models.BigIntegerField(_("paid for the line"))
    rate_source = models.CharField(_("rate from"), max_length=8)  # "level" or "product"
    rate_mode = models.CharField(_("rate mode"), max_length=8, choices=RateMode.choices)
    rate_value = models.BigIntegerField(_("rate"))  # basis points, or fen per item
    amount_fen = models.BigIntegerField(_("commission"))
    reversed_fen = models.BigIntegerField(_("reversed"), default=0)
    clawed_back_fen = models.BigIntegerField(_("clawed back"), default=0)
    refunded_base_fen = models.BigIntegerField(_("refunded of the line"), default=0)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=CommissionStatus.choices,
        default=CommissionStatus.PENDING,
        db_index=True,
    )
    paid_at = models.DateTimeField(_("order paid at"))
    completed_at = models.DateTimeField(_("order completed at"), null=True, blank=True)
    settle_after = models.DateTimeField(_("settles after"), null=True, blank=True, db_index=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("commission")
        verbose_name_plural = _("commissions")
        indexes = [
            models.Index(fields=["distributor", "status", "id"], name="commission_dist_status_idx"),
            models.Index(fields=["status", "settle_after"], name="commission_due_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["order_line", "level"], name="commission_once_per_line_and_level"
            ),
            models.CheckConstraint(
                condition=Q(level__gte=1) & Q(level__lte=MAX_LEVELS),
                name="commission_level_at_most_2",
            ),
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0)
                & Q(amount_fen__lte=F("base_fen"))
                & Q(reversed_fen__gte=0)
                & Q(clawed_back_fen__gte=0)
                & Q(refunded_base_fen__gte=0)
                & Q(refunded_base_fen__lte=F("base_fen"))
                & Q(reversed_fen__lte=F("amount_fen") - F("clawed_back_fen")),
                name="commission_amounts_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"commission:{self.order_line_id}:{self.level}"

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.reversed_fen - self.clawed_back_fen

    @property
    def key(self) -> str:
        """The ledger key of the credit; every later movement extends it."""
        return f"commission:{self.order_line_id}:{self.level}"


class CommissionRefund(models.Model):
    """A refund applied to a commission, once per refund key: how much commission it took back
    and whether that was a reversal (before settlement) or a clawback (after)."""

    commission = models.ForeignKey(Commission, on_delete=models.PROTECT, related_name="refunds")
    refund_key = models.CharField(max_length=100)
    refund_fen = models.BigIntegerField()
    taken_back_fen = models.BigIntegerField()
    kind = models.CharField(max_length=12)  # "reversal" or "clawback"
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["commission", "refund_key"], name="commission_refund_once_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.commission} refund {self.refund_key}"


class CommissionStatusChange(StatusHistory):
    commission = models.ForeignKey(Commission, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("commission status change")
