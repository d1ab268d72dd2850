"""Scores per customer (the latest run's) and the history of scoring runs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RfmGroup(models.TextChoices):
    """Named RFM groups (docs/analytics.md has the R x FM grid that assigns them)."""

    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALIST = "potential_loyalist", _("Potential loyalist")
    NEW = "new", _("New")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need attention")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class Lifecycle(models.TextChoices):
    """Stage along the private-domain funnel A -> R -> I -> P -> L, plus the way out."""

    AWARE = "aware", _("Aware")
    RELATED = "related", _("Related (in the pool)")
    INTERESTED = "interested", _("Interested")
    PURCHASED = "purchased", _("Purchased")
    LOYAL = "loyal", _("Loyal")
    AT_RISK = "at_risk", _("At risk")
    LOST = "lost", _("Lost")


class CycleSource(models.TextChoices):
    CUSTOMER = "customer", _("the customer's own purchases")
    CATEGORY = "category", _("the category's typical cycle")
    OVERALL = "overall", _("all customers' typical cycle")


class ScoreRun(models.Model):
    """One scoring run: the fitted parameters and aggregate figures, kept for charts over time."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(_("trigger"), max_length=20, default="manual")
    started_by = models.CharField(max_length=150, blank=True)
    as_of = models.DateField(_("scores as of"))
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    customers = models.IntegerField(_("customers scored"), default=0)
    buyers = models.IntegerField(_("customers with purchases"), default=0)
    parameters = models.JSONField(default=dict, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("score run")
        verbose_name_plural = _("score runs")

    def __str__(self) -> str:
        return f"score run {self.pk} ({self.as_of}, {self.status})"


class CustomerScore(models.Model):
    """The latest scores of one customer, replaced in bulk by every successful run."""

    customer = models.OneToOneField(
        "customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    run = models.ForeignKey(ScoreRun, on_delete=models.CASCADE, related_name="+")
    as_of = models.DateField()
    # purchases (paid, not cancelled/refunded, net of refunds)
    orders = models.IntegerField(default=0)
    purchase_days = models.IntegerField(default=0)
    first_purchase_on = models.DateField(null=True, blank=True)
    last_purchase_on = models.DateField(null=True, blank=True)
    net_spend_fen = models.BigIntegerField(default=0)
    # RFM
    recency_days = models.IntegerField(null=True, blank=True)
    r_score = models.SmallIntegerField(null=True, blank=True)
    f_score = models.SmallIntegerField(null=True, blank=True)
    m_score = models.SmallIntegerField(null=True, blank=True)
    rfm_group = models.CharField(max_length=20, choices=RfmGroup.choices, blank=True)
    # user value = purchase frequency x gross margin per order x referral index
    orders_12m = models.IntegerField(default=0)
    margin_per_order_fen = models.BigIntegerField(null=True, blank=True)
    converted_referrals = models.IntegerField(default=0)
    referral_index = models.FloatField(default=1.0)
    value_fen = models.BigIntegerField(default=0)
    value_score = models.SmallIntegerField(null=True, blank=True)
    # BG/NBD + Gamma-Gamma
    p_alive = models.FloatField(null=True, blank=True)
    expected_purchases_90d = models.FloatField(null=True, blank=True)
    expected_purchases_365d = models.FloatField(null=True, blank=True)
    expected_order_value_fen = models.BigIntegerField(null=True, blank=True)
    clv_90d_fen = models.BigIntegerField(null=True, blank=True)
    clv_365d_fen = models.BigIntegerField(null=True, blank=True)
    # repurchase cycle
    cycle_days = models.FloatField(null=True, blank=True)
    cycle_source = models.CharField(max_length=10, choices=CycleSource.choices, blank=True)
    next_purchase_on = models.DateField(null=True, blank=True)
    replenishment_due = models.BooleanField(default=False)
    # funnel
    lifecycle = models.CharField(max_length=12, choices=Lifecycle.choices)

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        indexes = [
            models.Index(fields=["rfm_group"], name="score_rfm_group_idx"),
            models.Index(fields=["lifecycle"], name="score_lifecycle_idx"),
            models.Index(fields=["next_purchase_on"], name="score_next_purchase_idx"),
        ]

    def __str__(self) -> str:
        return f"scores of customer {self.customer_id}"

    @property
    def churn_risk(self) -> float | None:
        return None if self.p_alive is None else 1.0 - self.p_alive
