"""The double-entry ledger: accounts, journal entries and their lines, clawbacks and withdrawals.

Every money movement of commissions and payouts is one `JournalEntry` whose `JournalLine`s sum to
zero (debits positive, credits negative). Entries and lines are append-only: a mistake is corrected
by a reversal entry, never by editing. Each entry has a unique business `key`
(`commission:{line}:{level}`, `withdrawal:{id}:paid`...), which is what makes posting exactly-once.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.fields import EncryptedTextField
from siyu.core.states import StatusHistory


class AccountKind(models.TextChoices):
    """The accounting type decides the normal side: assets and expenses grow with debits,
    liabilities, equity and income with credits."""

    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    EQUITY = "equity", _("Equity")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")


DEBIT_NORMAL = frozenset({AccountKind.ASSET, AccountKind.EXPENSE})


class Account(models.Model):
    """One account per owner and purpose (a distributor's available earnings, the platform's
    commission expense...). `balance_fen` is the balance on the normal side, kept in step with the
    lines under a row lock; platform-wide accounts that every posting touches are not cached (their
    balance is summed on demand) so they never become a lock every payment waits for."""

    owner_kind = models.CharField(_("owner kind"), max_length=16)
    # 0 for the platform's own accounts (no owner row).
    owner_id = models.BigIntegerField(_("owner id"), default=0)
    purpose = models.CharField(_("purpose"), max_length=32)
    kind = models.CharField(_("type"), max_length=10, choices=AccountKind.choices)
    cached = models.BooleanField(_("balance cached"), default=True)
    may_go_negative = models.BooleanField(_("may go negative"), default=False)
    balance_fen = models.BigIntegerField(_("balance"), default=0)
    label = models.CharField(_("label"), max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["owner_kind", "owner_id", "purpose"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_kind", "owner_id", "purpose"], name="ledger_account_unique_purpose"
            ),
            # An owner's money can only be negative through a clawback receivable, never here.
            models.CheckConstraint(
                condition=Q(balance_fen__gte=0) | Q(may_go_negative=True),
                name="ledger_account_not_negative",
            ),
            # Uncached accounts keep 0 here so nobody mistakes the column for their balance.
            models.CheckConstraint(
                condition=Q(cached=True) | Q(balance_fen=0), name="ledger_account_uncached_zero"
            ),
        ]

    def __str__(self) -> str:
        return self.label or f"{self.owner_kind}:{self.owner_id}:{self.purpose}"

    @property
    def sign(self) -> int:
        """+1 if debits increase this account's balance, -1 if credits do."""
        return 1 if self.kind in DEBIT_NORMAL else -1


class JournalEntry(models.Model):
    """One balanced money movement. Immutable once written; corrected only by a reversal."""

    key = models.CharField(_("business key"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    # What caused it, for links from the console ("distribution.commission", 42).
    source_type = models.CharField(max_length=64, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    reverses = models.OneToOneField(
        "self",
        verbose_name=_("reverses"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
    )
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_label = models.CharField(max_length=150, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["source_type", "source_id"], name="ledger_entry_source_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reverses=F("id")), name="ledger_entry_not_reversing_itself"
            )
        ]

    def __str__(self) -> str:
        return self.key

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("journal entries are append-only; post a reversal instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("journal entries are append-only; post a reversal instead")


class JournalLine(models.Model):
    """One leg of an entry: a debit (positive) or a credit (negative) to one account."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    amount_fen = models.BigIntegerField(_("amount (debit +, credit −)"))

    class Meta:
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "id"], name="ledger_line_account_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_fen=0), name="ledger_line_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount_fen:+d}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("journal lines are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("journal lines are append-only")

    @property
    def debit_fen(self) -> int:
        return self.amount_fen if self.amount_fen > 0 else 0

    @property
    def credit_fen(self) -> int:
        return -self.amount_fen if self.amount_fen < 0 else 0


class Clawback(models.Model):
    """Money taken back from an owner after it was settled (a refund after the after-sales window).

    It explains every fen of the owner's clawback receivable: `amount_fen` was owed, part was taken
    from the available balance at once, the rest is `outstanding` until later earnings cover it or
    an operator waives it. While anything is outstanding the owner cannot withdraw.
    """

    owner_kind = models.CharField(max_length=16)
    owner_id = models.BigIntegerField()
    amount_fen = models.BigIntegerField(_("amount"))
    recovered_fen = models.BigIntegerField(_("recovered"), default=0)
    waived_fen = models.BigIntegerField(_("waived"), default=0)
    key = models.CharField(_("business key"), max_length=200, unique=True)
    reason = models.CharField(_("reason"), max_length=255)
    source_type = models.CharField(max_length=64, blank=True)
    source_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("clawback")
        verbose_name_plural = _("clawbacks")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["owner_kind", "owner_id", "closed_at"], name="ledger_clawback_open"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0)
                & Q(recovered_fen__gte=0)
                & Q(waived_fen__gte=0)
                & Q(recovered_fen__lte=F("amount_fen") - F("waived_fen")),
                name="ledger_clawback_amounts_valid",
            )
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def outstanding_fen(self) -> int:
        return self.amount_fen - self.recovered_fen - self.waived_fen


class WithdrawalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    PAYING = "paying", _("Paying out")
    PAID = "paid", _("Paid")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Payout failed")


class Withdrawal(models.Model):
    """An owner's request to be paid their available balance, and its payout.

    The money moves to "in transit" when requested, so it cannot be spent twice; approval sends it
    through the payout adapter under `out_bill_no` (stable, so a retry never pays twice); rejection
    or a failed payout returns it to the available balance.
    """

    owner_kind = models.CharField(max_length=16)
    owner_id = models.BigIntegerField()
    owner_label = models.CharField(_("payee"), max_length=150, blank=True)
    amount_fen = models.BigIntegerField(_("amount"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=WithdrawalStatus.choices,
        default=WithdrawalStatus.REQUESTED,
        db_index=True,
    )
    adapter = models.CharField(_("payout channel"), max_length=16)
    out_bill_no = models.CharField(_("payout number"), max_length=32, unique=True, null=True)
    payee_openid = EncryptedTextField(blank=True, default="")
    payee_name = EncryptedTextField(blank=True, default="")
    provider_bill_no = models.CharField(_("provider bill number"), max_length=64, blank=True)
    provider_state = models.CharField(_("provider state"), max_length=32, blank=True)
    # WeChat Pay's new transfers wait for the payee to confirm in WeChat with this package.
    package_info = models.TextField(blank=True)
    reject_reason = models.CharField(_("rejection reason"), max_length=255, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["owner_kind", "owner_id", "status"], name="ledger_withdrawal_owner"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0), name="ledger_withdrawal_amount_positive"
            ),
            # One open withdrawal per owner: a second request waits for the first to finish.
            models.UniqueConstraint(
                fields=["owner_kind", "owner_id"],
                condition=Q(status__in=["requested", "approved", "paying"]),
                name="ledger_withdrawal_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"withdrawal {self.pk} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_WITHDRAWAL_STATUSES


OPEN_WITHDRAWAL_STATUSES = frozenset(
    {WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED, WithdrawalStatus.PAYING}
)


class WithdrawalStatusChange(StatusHistory):
    withdrawal = models.ForeignKey(Withdrawal, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("withdrawal status change")
