"""Ledger invariants, checked with set-based queries (`siyu ledger_check`, nightly job, tests).

1. every entry has at least two lines and its lines sum to zero;
2. every cached balance equals the sum of its account's lines (on the normal side);
3. no account that may not go negative is negative;
4. each owner's clawback receivable equals what their open clawbacks still say they owe.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce

from . import accounts as A
from .models import DEBIT_NORMAL, Account, Clawback, JournalEntry, JournalLine


@dataclass(frozen=True)
class Problem:
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def verify() -> list[Problem]:
    problems: list[Problem] = []

    unbalanced = (
        JournalLine.objects.values("entry_id", "entry__key")
        .annotate(total=Sum("amount_fen"), n=Count("id"))
        .filter(~Q(total=0) | Q(n__lt=2))
        .order_by("entry_id")
    )
    for row in unbalanced[:1000]:
        problems.append(
            Problem(
                "unbalanced_entry",
                f"{row['entry__key']}: {row['n']} lines summing to {row['total']}",
            )
        )
    for key in JournalEntry.objects.filter(lines__isnull=True).values_list("key", flat=True)[:1000]:
        problems.append(Problem("unbalanced_entry", f"{key}: no lines"))

    cached = Account.objects.filter(cached=True).annotate(
        raw=Coalesce(Sum("lines__amount_fen"), Value(0))
    )
    for account in cached.iterator(chunk_size=2000):
        sign = 1 if account.kind in DEBIT_NORMAL else -1
        if account.balance_fen != sign * account.raw:
            problems.append(
                Problem(
                    "balance_mismatch",
                    f"{account}: cached {account.balance_fen}, lines say {sign * account.raw}",
                )
            )
    for account in Account.objects.filter(may_go_negative=False, balance_fen__lt=0)[:1000]:
        problems.append(Problem("negative_balance", f"{account}: {account.balance_fen}"))

    owed = {
        (row["owner_kind"], row["owner_id"]): row["owed"]
        for row in Clawback.objects.values("owner_kind", "owner_id").annotate(
            owed=Sum(F("amount_fen") - F("recovered_fen") - F("waived_fen"))
        )
    }
    receivables = {
        (a.owner_kind, a.owner_id): a.balance_fen
        for a in Account.objects.filter(purpose=A.RECEIVABLE)
    }
    for owner in sorted(set(owed) | set(receivables)):
        if owed.get(owner, 0) != receivables.get(owner, 0):
            problems.append(
                Problem(
                    "clawback_unexplained",
                    f"{owner[0]}:{owner[1]} receivable {receivables.get(owner, 0)}, "
                    f"open clawbacks {owed.get(owner, 0)}",
                )
            )
    return problems
