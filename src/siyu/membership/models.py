"""Membership (会员体系): points with their own append-only ledger, tiers by rolling spend, paid
member cards, and referral rewards (老带新 / 分享返现).

Invariants held by the schema:
* a points balance and a points debt are never negative (CHECKs), every points movement is a
  `PointsEntry` with a unique business key, and earned points are tracked as lots that expire;
* one referral per invitee, never the invitee themselves (CHECK), one reward per order (unique);
* one member card per order-line unit (unique key).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RewardKind(models.TextChoices):
    POINTS = "points", _("Points")
    CASHBACK = "cashback", _("Cashback (withdrawable)")
    COUPON = "coupon", _("Coupon")


class ProgramSettings(models.Model):
    """The membership programme's rules (one row, created with the defaults on first use)."""

    points_enabled = models.BooleanField(_("points enabled"), default=True)
    earn_points_per_yuan = models.PositiveIntegerField(
        _("points earned per yuan paid"),
        default=1,
        help_text=_("On what the shopper paid for each line, counted when the order completes."),
    )
    earn_min_order_fen = models.BigIntegerField(_("minimum order to earn points"), default=0)
    redeem_fen_per_point = models.PositiveIntegerField(
        _("value of one point (fen)"),
        default=1,
        help_text=_("1 means 100 points are worth ¥1."),
    )
    redeem_max_percent = models.PositiveSmallIntegerField(
        _("points may pay at most (% of the goods)"), default=50
    )
    redeem_max_points = models.PositiveIntegerField(
        _("points per order at most"), default=0, help_text=_("0 means no limit.")
    )
    redeem_min_points = models.PositiveIntegerField(_("minimum points to use"), default=100)
    points_valid_months = models.PositiveSmallIntegerField(
        _("points valid for (months)"),
        default=12,
        help_text=_("Points expire at the end of this calendar month after the month earned."),
    )
    tier_window_days = models.PositiveIntegerField(_("tier spend window (days)"), default=365)
    tier_grace_days = models.PositiveIntegerField(
        _("downgrade grace period (days)"),
        default=30,
        help_text=_("A member whose spend fell below their tier keeps it this long."),
    )
    card_reminder_days = models.PositiveIntegerField(
        _("remind card holders (days before expiry)"), default=7
    )
    referral_enabled = models.BooleanField(_("referral rewards enabled"), default=True)
    referral_reward_kind = models.CharField(
        _("referral reward"), max_length=10, choices=RewardKind.choices, default=RewardKind.POINTS
    )
    referral_points = models.PositiveIntegerField(_("reward points"), default=500)
    referral_cashback_fen = models.BigIntegerField(_("fixed cashback"), default=0)
    referral_cashback_bp = models.PositiveIntegerField(
        _("cashback (basis points of the order)"),
        default=500,
        help_text=_("500 = 5% of what the friend paid (after refunds)."),
    )
    referral_coupon_id = models.BigIntegerField(_("reward coupon id"), null=True, blank=True)
    referral_min_order_fen = models.BigIntegerField(_("friend's first order at least"), default=0)
    referral_cap_count = models.PositiveIntegerField(
        _("rewards per customer per month at most"), default=10
    )
    referral_cap_fen = models.BigIntegerField(
        _("cashback per customer per month at most"), default=20000
    )
    min_withdrawal_fen = models.BigIntegerField(_("minimum cashback withdrawal"), default=1000)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = _("membership settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(redeem_max_percent__lte=100), name="membership_redeem_percent_max_100"
            ),
            models.CheckConstraint(
                condition=Q(redeem_fen_per_point__gte=1), name="membership_point_value_positive"
            ),
            models.CheckConstraint(
                condition=Q(referral_cashback_fen__gte=0)
                & Q(referral_cap_fen__gte=0)
                & Q(min_withdrawal_fen__gte=0)
                & Q(earn_min_order_fen__gte=0)
                & Q(referral_min_order_fen__gte=0),
                name="membership_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return str(_("membership settings"))


class Tier(models.Model):
    """A membership level reached by rolling spend (普通会员, 银卡, 金卡...) and what it brings."""

    name = models.CharField(_("name"), max_length=40)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    min_spend_fen = models.BigIntegerField(_("spend to reach it"), default=0)
    discount_percent = models.PositiveSmallIntegerField(
        _("member discount (%)"), default=0, help_text=_("5 means 5% off (95折).")
    )
    member_price = models.BooleanField(_("member prices apply"), default=False)
    free_shipping = models.BooleanField(_("free shipping"), default=False)
    points_multiplier_percent = models.PositiveSmallIntegerField(
        _("points multiplier (%)"), default=100
    )
    coupon_id = models.BigIntegerField(_("coupon granted on reaching it"), null=True, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_percent__lte=90) & Q(min_spend_fen__gte=0),
                name="membership_tier_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A customer's membership: invitation code, tier and the spend that decides it."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="membership"
    )
    code = models.CharField(_("invitation code"), max_length=12, unique=True, null=True)
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL)
    tier_since = models.DateTimeField(null=True, blank=True)
    # When the rolling spend first fell below the tier: the grace period runs from here.
    below_since = models.DateTimeField(null=True, blank=True)
    rolling_spend_fen = models.BigIntegerField(default=0)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("member")

    def __str__(self) -> str:
        return f"{self.code or '—'} ({self.customer_id})"


class TierChange(models.Model):
    class Reason(models.TextChoices):
        UPGRADE = "upgrade", _("Upgraded")
        DOWNGRADE = "downgrade", _("Downgraded")
        GRACE = "grace", _("Below the tier: grace period started")
        RESTORED = "restored", _("Back above the tier")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=12, choices=Reason.choices)
    spend_fen = models.BigIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.reason}"


# --- points ------------------------------------------------------------------------------------


class PointsReason(models.TextChoices):
    EARN = "earn", _("Earned on an order")
    REDEEM = "redeem", _("Used at checkout")
    REDEEM_RETURN = "redeem_return", _("Returned (order cancelled or refunded)")
    REFUND = "refund", _("Taken back (order refunded)")
    EXPIRE = "expire", _("Expired")
    ADJUST = "adjust", _("Adjusted by an operator")
    REFERRAL = "referral", _("Referral reward")
    MERGE = "merge", _("Moved from a merged customer record")


class PointsAccount(models.Model):
    """A customer's points. `balance` is what they may spend; `debt` is what a refund took back
    that the balance could not cover (new points pay it first)."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="points_account"
    )
    balance = models.BigIntegerField(default=0)
    debt = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0) & Q(debt__gte=0), name="points_account_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.balance}"


class PointsEntry(models.Model):
    """One change of a points account (append-only). `delta` moves the balance, `debt_delta` the
    debt; `key` makes every movement happen once."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries")
    key = models.CharField(max_length=120, unique=True)
    reason = models.CharField(_("reason"), max_length=16, choices=PointsReason.choices)
    delta = models.BigIntegerField(_("points"))
    debt_delta = models.BigIntegerField(default=0)
    balance_after = models.BigIntegerField(_("balance after"))
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    order_line_id = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=255, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-id"], name="points_entry_account_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(delta=0) | ~Q(debt_delta=0), name="points_entry_moves_something"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.delta:+d}"


class PointsLot(models.Model):
    """Points earned together, expiring together. Spending takes the soonest-expiring first."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="lots")
    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="lots")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    earned_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="points_lot_open_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="points_lot_remaining_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount} until {self.expires_at:%Y-%m-%d}"


class PointsRedemption(models.Model):
    """Points used on one order, with each line's share (fen), so refunds return them exactly."""

    order_id = models.BigIntegerField(unique=True)
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="+")
    points = models.BigIntegerField()
    value_fen = models.BigIntegerField()
    line_shares = models.JSONField(default=dict)  # {order_line_id: fen}
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.points} points on order {self.order_id}"


class ProductPointsRule(models.Model):
    """A product's own earning rule: a multiplier on the base rate, a fixed number per unit, or
    no points at all."""

    class Mode(models.TextChoices):
        MULTIPLIER = "multiplier", _("Multiplier on the base rate (%)")
        FIXED = "fixed", _("Fixed points per unit")
        NONE = "none", _("No points")

    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, related_name="points_rule"
    )
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.MULTIPLIER)
    value = models.PositiveIntegerField(default=200)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.mode} {self.value}"


class MemberPrice(models.Model):
    """A SKU's member price (会员价), for members whose tier or card brings member prices."""

    sku = models.OneToOneField(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.CASCADE, related_name="member_price"
    )
    price_fen = models.BigIntegerField(_("member price"))
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(price_fen__gte=0), name="member_price_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.price_fen}"


# --- paid member cards --------------------------------------------------------------------------


class CardPlan(models.Model):
    """A paid member card (付费会员卡, e.g. ¥365 a year), sold as a catalogue SKU through the normal
    checkout; its benefits apply automatically while a card is valid."""

    name = models.CharField(_("name"), max_length=60)
    sku = models.OneToOneField(
        "catalog.Sku", verbose_name=_("SKU"), on_delete=models.PROTECT, related_name="card_plan"
    )
    duration_days = models.PositiveIntegerField(_("valid for (days)"), default=365)
    discount_percent = models.PositiveSmallIntegerField(_("member discount (%)"), default=0)
    member_price = models.BooleanField(_("member prices apply"), default=True)
    free_shipping = models.BooleanField(_("free shipping"), default=True)
    points_multiplier_percent = models.PositiveSmallIntegerField(
        _("points multiplier (%)"), default=100
    )
    monthly_coupon_id = models.BigIntegerField(_("monthly coupon id"), null=True, blank=True)
    full_refund_days = models.PositiveIntegerField(
        _("full refund within (days), if no benefit was used"), default=7
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("member card plan")
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_percent__lte=90) & Q(duration_days__gte=1),
                name="membership_card_plan_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("Valid")
    REFUNDED = "refunded", _("Refunded")


class MemberCard(models.Model):
    """One bought period of a card plan. A renewal is another card starting when the last ends."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="member_cards"
    )
    plan = models.ForeignKey(CardPlan, on_delete=models.PROTECT, related_name="cards")
    key = models.CharField(max_length=80, unique=True)  # card:{order_line}:{unit}
    order_id = models.BigIntegerField(db_index=True)
    order_line_id = models.BigIntegerField()
    price_fen = models.BigIntegerField(default=0)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=CardStatus.choices, default=CardStatus.ACTIVE)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-ends_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="card_period")
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.starts_at:%Y-%m-%d}–{self.ends_at:%Y-%m-%d}"

    def is_valid_at(self, when) -> bool:
        return self.status == CardStatus.ACTIVE and self.starts_at <= when < self.ends_at


class CardBenefitUse(models.Model):
    """A benefit a card gave on a paid order (member price, free shipping, a monthly coupon):
    decides whether a card may be refunded in full."""

    class Kind(models.TextChoices):
        DISCOUNT = "discount", _("Member price or discount")
        SHIPPING = "shipping", _("Free shipping")
        COUPON = "coupon", _("Monthly coupon")

    card = models.ForeignKey(MemberCard, on_delete=models.CASCADE, related_name="benefit_uses")
    key = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    order_id = models.BigIntegerField(null=True, blank=True)
    amount_fen = models.BigIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class CardReminder(models.Model):
    """A renewal reminder recorded for a card about to end (shown in the member centre)."""

    card = models.ForeignKey(MemberCard, on_delete=models.CASCADE, related_name="reminders")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="card_reminders"
    )
    ends_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["card"], name="card_reminder_once_per_card"),
        ]

    def __str__(self) -> str:
        return f"card {self.card_id}"


# --- referral rewards ---------------------------------------------------------------------------


class ReferralStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting for the first order")
    ORDERED = "ordered", _("First order placed")
    REWARDED = "rewarded", _("Rewarded")
    NO_REWARD = "no_reward", _("No reward")


class Referral(models.Model):
    """Who brought whom (老带新): recorded when a new customer arrives through a member's
    invitation or product share link. One per invitee, never themselves."""

    referrer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="referrals_made"
    )
    invitee = models.OneToOneField(
        "customers.Customer", on_delete=models.PROTECT, related_name="referral_received"
    )
    via = models.CharField(max_length=20, blank=True)  # "invite" or "product:<id>"
    status = models.CharField(
        max_length=10, choices=ReferralStatus.choices, default=ReferralStatus.WAITING
    )
    first_order_id = models.BigIntegerField(null=True, blank=True, unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=F("invitee")), name="referral_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.invitee_id}"


class ReferralReward(models.Model):
    """The reward a referrer got for their friend's first order (key `referral:{order_id}`)."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="rewards")
    referrer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=60, unique=True)
    order_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=RewardKind.choices)
    points = models.BigIntegerField(default=0)
    cashback_fen = models.BigIntegerField(default=0)
    coupon_id = models.BigIntegerField(null=True, blank=True)
    order_paid_fen = models.BigIntegerField(default=0)
    period = models.CharField(max_length=7)  # YYYY-MM (Asia/Shanghai), for the monthly caps
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["referrer", "period"], name="referral_reward_period_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(points__gte=0) & Q(cashback_fen__gte=0), name="referral_reward_sane"
            ),
        ]

    def __str__(self) -> str:
        return self.key
