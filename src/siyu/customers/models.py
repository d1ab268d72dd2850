"""The customer pool: one row per real person, with identities, sources, owners, tags and consent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.fields import EncryptedTextField


class Source(models.TextChoices):
    """Where a customer came from (流量入口); the source decides trust and conversion."""

    TMALL = "tmall", _("Tmall / Taobao")
    JD = "jd", _("JD")
    DOUYIN = "douyin", _("Douyin")
    PDD = "pdd", _("Pinduoduo")
    YOUZAN = "youzan", _("Youzan")
    PLATFORM_OTHER = "platform", _("Other platform")
    STORE = "store", _("Offline store")
    DEALER = "dealer", _("Dealer")
    AD = "ad", _("Advertising")
    CONTENT = "content", _("Content")
    KOL = "kol", _("KOL")
    LIVE = "live", _("Live stream")
    REFERRAL = "referral", _("Referral")
    WECOM = "wecom", _("WeCom contact")
    MALL = "mall", _("Mini-program mall")
    OTHER = "other", _("Other")


PLATFORM_SOURCES = frozenset({"tmall", "jd", "douyin", "pdd", "youzan", "platform"})


class IdentityKind(models.TextChoices):
    PHONE = "phone", _("Mobile phone")
    UNIONID = "unionid", _("WeChat unionid")
    OPENID = "openid", _("WeChat openid")
    WECOM = "wecom_external", _("WeCom external_userid")
    TMALL = "tmall_buyer", _("Tmall buyer")
    JD = "jd_account", _("JD account")
    DOUYIN = "douyin_id", _("Douyin id")
    PDD = "pdd_id", _("Pinduoduo id")
    YOUZAN = "youzan_id", _("Youzan id")
    STORE_MEMBER = "store_member", _("Store member number")
    EMAIL = "email", _("Email")


class OwnerKind(models.TextChoices):
    CLERK = "clerk", _("Store clerk")
    LEADER = "leader", _("Community leader")
    DISTRIBUTOR = "distributor", _("Distributor")


class Customer(models.Model):
    """One real person. Merged-away records stay as tombstones pointing at the survivor."""

    name = models.CharField(_("name"), max_length=100, blank=True, db_index=True)
    phone = EncryptedTextField(_("mobile phone"), blank=True, default="")
    phone_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    # The last four digits in clear, for 尾号 search at the counter ("the one ending 1234"); the same
    # four digits every masked display (138****1234) already shows, so it reveals nothing new.
    phone_last4 = models.CharField(max_length=4, blank=True, default="", db_index=True)
    gender = models.CharField(
        _("gender"), max_length=1, blank=True, choices=[("f", _("Female")), ("m", _("Male"))]
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=30, blank=True)
    city = models.CharField(_("city"), max_length=30, blank=True)
    source = models.CharField(_("first source"), max_length=20, choices=Source.choices)
    source_detail = models.CharField(_("source detail"), max_length=100, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    # Current owner, cached from the latest open Ownership so scope filters are one indexed column.
    owner_kind = models.CharField(
        _("owner kind"), max_length=12, choices=OwnerKind.choices, blank=True
    )
    owner_id = models.BigIntegerField(_("owner id"), null=True, blank=True)
    # Both foreign keys are served by the partial (owner_user, id) and (store, id) indexes below,
    # which hold active customers: the clerk's and store manager's lists only ever ask for those.
    # A full index on each as well would only slow million-row imports down.
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owning clerk"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        db_index=False,
    )
    store = models.ForeignKey(
        "staff.Store",
        verbose_name=_("home store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
        db_index=False,
    )
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referrals",
    )
    in_pool = models.BooleanField(
        _("reachable in the pool"),
        default=False,
        help_text=_("A WeCom contact or a customer who consented to be contacted."),
    )
    opted_out_at = models.DateTimeField(_("opted out of all marketing"), null=True, blank=True)
    # Indexed only where set (see Meta): almost every row is NULL, and a plain index tempts
    # SQLite's planner into walking it for the "active customers" filter on every list.
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
        db_index=False,
    )
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            # A clerk's and a store manager's lists (newest first) and counts read only these
            # partial indexes: tombstones and erased records are never in a list.
            models.Index(
                fields=["owner_user", "id"],
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
                name="customer_active_owner_idx",
            ),
            models.Index(
                fields=["store", "id"],
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
                name="customer_active_store_idx",
            ),
            models.Index(fields=["owner_kind", "owner_id"], name="customer_owner_idx"),
            # Active customers by source: the source filter pages newest-first from it, and the
            # overview's per-source counts read only this index, not the million-row table.
            models.Index(
                fields=["source", "id"],
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
                name="customer_active_source_idx",
            ),
            # "first seen between" filters and the overview's "new this week", index-only
            models.Index(
                fields=["first_seen_at", "id"],
                condition=Q(merged_into__isnull=True, erased_at__isnull=True),
                name="customer_active_first_seen_idx",
            ),
            models.Index(
                fields=["merged_into"],
                condition=Q(merged_into__isnull=False),
                name="customer_tombstones_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("id")), name="customer_not_merged_into_self"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.merged_into_id is None and self.erased_at is None


class Identity(models.Model):
    """A way to recognise the person: phone, unionid, platform buyer id... Stored encrypted and
    found by keyed hash. Strong identities (unique to one person) decide identity resolution."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    value_hash = models.CharField(max_length=64)
    value = EncryptedTextField(blank=True, default="")
    source = models.CharField(max_length=20, choices=Source.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value_hash"], name="identity_unique_kind_value"
            ),
        ]
        indexes = [models.Index(fields=["customer", "kind"], name="identity_customer_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of customer {self.customer_id}"


class Touch(models.Model):
    """A contact with the customer from a source (an order import, a store visit, a referral...).
    The earliest touch is the first source; later ones show the journey."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="touches")
    source = models.CharField(max_length=20, choices=Source.choices)
    detail = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    ref = models.CharField(max_length=100, blank=True, help_text="business key of what caused it")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "occurred_at"], name="touch_customer_time_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "source", "ref"], condition=~Q(ref=""), name="touch_unique_ref"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} touch of customer {self.customer_id}"


class Ownership(models.Model):
    """Who served the customer, and when: a history, so attribution survives hand-overs."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ownerships")
    owner_kind = models.CharField(max_length=12, choices=OwnerKind.choices)
    owner_id = models.BigIntegerField()
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_label = models.CharField(max_length=100, blank=True)
    store = models.ForeignKey(
        "staff.Store", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    assigned_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(ended_at__isnull=True),
                name="ownership_one_open_per_customer",
            )
        ]
        indexes = [models.Index(fields=["owner_kind", "owner_id"], name="ownership_owner_idx")]

    def __str__(self) -> str:
        return f"{self.owner_kind}:{self.owner_id} owns customer {self.customer_id}"


class TagGroup(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    exclusive = models.BooleanField(
        _("one tag per customer"),
        default=False,
        help_text=_("Tags in this group exclude each other (e.g. skin type)."),
    )
    sort = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort", "name"]
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A manual tag, or one set by a rule (`rule` holds the rule; see customers.rules)."""

    group = models.ForeignKey(TagGroup, on_delete=models.PROTECT, related_name="tags")
    name = models.CharField(_("name"), max_length=50)
    color = models.CharField(max_length=7, blank=True)
    rule = models.JSONField(null=True, blank=True)
    # In an exclusive group of rule tags (lifecycle: new, active, at risk, churned) the first rule
    # that matches, in this order, wins.
    sort = models.IntegerField(_("order"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["group__sort", "group__name", "sort", "name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="tag_unique_name_in_group")
        ]

    def __str__(self) -> str:
        return f"{self.group.name}:{self.name}"


class CustomerTag(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="customer_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    by_rule = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique")
        ]
        indexes = [models.Index(fields=["tag", "customer"], name="customer_tag_by_tag_idx")]

    def __str__(self) -> str:
        return f"tag {self.tag_id} on customer {self.customer_id}"


class ConsentChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    WECOM = "wecom", _("WeCom message")
    WECHAT_OA = "wechat_oa", _("WeChat official account")
    MINIPROGRAM = "miniprogram", _("Mini-program subscription")
    PHONE = "phone", _("Phone call")
    EMAIL = "email", _("Email")


class Consent(models.Model):
    """Current marketing consent per channel; every change is also a ConsentEvent."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=16, choices=ConsentChannel.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel"], name="consent_unique_channel")
        ]
        indexes = [
            # "everyone who said yes to SMS" without scanning the customer table
            models.Index(
                fields=["channel", "customer"],
                condition=Q(granted=True),
                name="consent_granted_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}={self.granted} for customer {self.customer_id}"


class ConsentEvent(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(
        max_length=16, choices=ConsentChannel.choices + [("all", _("All channels"))]
    )
    granted = models.BooleanField()
    source = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return (
            f"{self.channel}={self.granted} for customer {self.customer_id} at {self.occurred_at}"
        )


class MergeRecord(models.Model):
    """Two records found to be one person: what was merged, by whom, and the merged record's data."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merges")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    snapshot = models.JSONField(default=dict)
    merged_at = models.DateTimeField(default=timezone.now)
    merged_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-merged_at"]
        constraints = [models.UniqueConstraint(fields=["merged"], name="merge_once")]

    def __str__(self) -> str:
        return f"customer {self.merged_id} merged into {self.survivor_id}"


class MergeSuggestion(models.Model):
    """Two records that share a strong identity but could not be resolved automatically (for example,
    an import row whose phone belongs to one customer and whose unionid to another). An operator
    merges or dismisses it; siyu never merges silently."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Dismissed")

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_a", "customer_b"], name="merge_suggestion_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(customer_a__lt=models.F("customer_b")),
                name="merge_suggestion_ordered_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"maybe {self.customer_a_id} = {self.customer_b_id} ({self.status})"
