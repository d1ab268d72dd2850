"""Group-buy activities, the groups opened under them, and their members."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.states import StatusHistory

MIN_GROUP_SIZE = 2
MAX_GROUP_SIZE = 50
MAX_TIME_LIMIT_HOURS = 168


class ActivityStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")


class Activity(models.Model):
    """A group-buy offer: some SKUs at a group price, a group size, a time limit per group."""

    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    group_size = models.PositiveSmallIntegerField(_("group size"))
    time_limit_hours = models.PositiveSmallIntegerField(_("time limit (hours)"), default=24)
    # Units one customer may buy through this activity in total (refunded/cancelled don't count).
    per_customer_limit = models.PositiveIntegerField(_("limit per customer"), null=True, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"), max_length=10, choices=ActivityStatus.choices, default=ActivityStatus.ACTIVE
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("group-buy activity")
        verbose_name_plural = _("group-buy activities")
        constraints = [
            models.CheckConstraint(
                condition=Q(group_size__gte=MIN_GROUP_SIZE) & Q(group_size__lte=MAX_GROUP_SIZE),
                name="groupbuy_activity_size_range",
            ),
            models.CheckConstraint(
                condition=Q(time_limit_hours__gte=1)
                & Q(time_limit_hours__lte=MAX_TIME_LIMIT_HOURS),
                name="groupbuy_activity_time_limit_range",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="groupbuy_activity_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def is_live(self, now=None) -> bool:
        """New groups may be opened now."""
        now = now or timezone.now()
        return self.status == ActivityStatus.ACTIVE and self.starts_at <= now < self.ends_at


class ActivityItem(models.Model):
    """A SKU offered in an activity, at its group price."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="group_buys")
    group_price_fen = models.BigIntegerField(_("group price"))

    class Meta:
        ordering = ["activity_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "sku"], name="groupbuy_item_once"),
            models.CheckConstraint(
                condition=Q(group_price_fen__gt=0), name="groupbuy_item_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} @ {self.group_price_fen}"


class GroupStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", _("Waiting for the initiator to pay")
    OPEN = "open", _("Open")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    ABANDONED = "abandoned", _("Not opened")


LIVE_GROUP_STATUSES = (GroupStatus.AWAITING_PAYMENT, GroupStatus.OPEN)


class Group(models.Model):
    """One group (团) of an activity. `seats_taken` counts members holding a seat (paid, or placed
    and not yet paid); `paid_count` those who paid. Both change only under this row's lock."""

    activity = models.ForeignKey(Activity, on_delete=models.PROTECT, related_name="groups")
    code = models.CharField(_("share code"), max_length=16, unique=True)
    initiator = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="groups_opened"
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=GroupStatus.choices,
        default=GroupStatus.AWAITING_PAYMENT,
        db_index=True,
    )
    size = models.PositiveSmallIntegerField(_("group size"))
    seats_taken = models.PositiveSmallIntegerField(default=0)
    paid_count = models.PositiveSmallIntegerField(_("paid members"), default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("group")
        verbose_name_plural = _("groups")
        indexes = [models.Index(fields=["status", "expires_at"], name="groupbuy_group_due_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(paid_count__lte=F("seats_taken")) & Q(seats_taken__lte=F("size")),
                name="groupbuy_group_paid_within_size",
            ),
            # one live group opened per customer per activity
            models.UniqueConstraint(
                fields=["activity", "initiator"],
                condition=Q(status__in=["awaiting_payment", "open"]),
                name="groupbuy_one_open_group_per_initiator",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def hold(self) -> str:
        """The fulfilment hold its members' orders carry until it succeeds."""
        return f"group_buy:{self.pk}"

    @property
    def seats_left(self) -> int:
        return self.size - self.seats_taken

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_GROUP_STATUSES


class GroupStatusChange(StatusHistory):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("group status change")


class MemberStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", _("Not paid yet")
    PAID = "paid", _("Paid")
    SUCCEEDED = "succeeded", _("In a successful group")
    CANCELLED = "cancelled", _("Left before paying")
    REFUNDING = "refunding", _("Refunding")
    REFUNDED = "refunded", _("Refunded")


SEAT_HOLDING = (MemberStatus.PENDING_PAYMENT, MemberStatus.PAID)


class Member(models.Model):
    """A customer's place in a group, backed by one order (channel group_buy, group price)."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="members")
    activity = models.ForeignKey(Activity, on_delete=models.PROTECT, related_name="members")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="group_memberships"
    )
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="group_membership"
    )
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)
    is_initiator = models.BooleanField(_("initiator"), default=False)
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=MemberStatus.choices,
        default=MemberStatus.PENDING_PAYMENT,
        db_index=True,
    )
    # what the goods cost the member (the refund that takes them out of the group), and paid
    goods_fen = models.BigIntegerField(default=0)
    paid_fen = models.BigIntegerField(default=0)
    refund_key = models.CharField(max_length=64, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["group_id", "joined_at", "id"]
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        constraints = [
            # one seat per customer per activity at a time (joining a second group waits until
            # the first has succeeded, failed or been left)
            models.UniqueConstraint(
                fields=["activity", "customer"],
                condition=Q(status__in=["pending_payment", "paid"]),
                name="groupbuy_one_live_membership",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=1) & Q(paid_fen__gte=0) & Q(goods_fen__gte=0),
                name="groupbuy_member_amounts_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "group"], name="groupbuy_member_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.group_id}"


class MemberStatusChange(StatusHistory):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("group member status change")
