"""Saved segments and their materialised snapshots (the members frozen at a moment, for campaigns)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    """A saved rule (see rules.py and docs/segments.md). Counted live, in the viewer's scope."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    rule = models.JSONField(_("rule"))
    # set for a store's own segments (made by its manager); brand-wide segments leave it empty
    store = models.ForeignKey(
        "staff.Store",
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        indexes = [models.Index(fields=["store", "archived_at"], name="segment_store_idx")]

    def __str__(self) -> str:
        return self.name


class SegmentSnapshot(models.Model):
    """The members of a segment at one moment, in the scope of whoever materialised it.

    Campaigns send to a snapshot, not to a live rule, so "who got the message" stays answerable.
    With ``channel`` set, only customers contactable there (consent granted, not opted out) are
    kept; without it everyone is kept and opted-out members are flagged.
    """

    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="snapshots")
    rule = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    scope = models.CharField(_("scope"), max_length=100, blank=True)
    channel = models.CharField(_("contactable on"), max_length=16, blank=True)
    members = models.IntegerField(_("members"), default=0)
    opted_out = models.IntegerField(_("opted out (flagged)"), default=0)
    excluded = models.IntegerField(_("left out"), default=0)
    data_as_of = models.DateTimeField(_("data as of"), null=True, blank=True)
    scores_as_of = models.DateField(_("scores as of"), null=True, blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("segment snapshot")
        verbose_name_plural = _("segment snapshots")

    def __str__(self) -> str:
        return f"{self.segment_id}@{self.created_at:%Y-%m-%d %H:%M} ({self.members})"


class SegmentMember(models.Model):
    """One customer in a snapshot; written in bulk (COPY on PostgreSQL)."""

    snapshot = models.ForeignKey(SegmentSnapshot, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    opted_out = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "customer"], name="segment_member_unique_customer"
            )
        ]
        # "which campaign lists was this customer in" from the customer page
        indexes = [
            models.Index(fields=["customer", "snapshot"], name="segment_member_customer_idx")
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in snapshot {self.snapshot_id}"
