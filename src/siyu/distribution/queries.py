"""Read-side helpers for distribution pages (console and the distributor centre)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.utils import timezone

from siyu.ledger import accounts as LA
from siyu.ledger.models import Account, Withdrawal, WithdrawalStatus

from .models import Binding, Commission, CommissionStatus, Distributor

OWNER_KIND = "distributor"


def balances_for(distributor_ids) -> dict[int, dict[str, int]]:
    """Ledger balances by purpose for many distributors in one query."""
    found: dict[int, dict[str, int]] = defaultdict(lambda: {p: 0 for p in LA.OWNER_PURPOSES})
    rows = Account.objects.filter(
        owner_kind=OWNER_KIND, owner_id__in=list(distributor_ids)
    ).values_list("owner_id", "purpose", "balance_fen")
    for owner_id, purpose, balance in rows:
        found[owner_id][purpose] = balance
    return found


@dataclass(frozen=True)
class Earnings:
    """A distributor's money by stage, as the centre shows it."""

    pending: int
    frozen: int
    available: int
    in_transit: int
    withdrawn: int
    owed: int

    @property
    def total_earned(self) -> int:
        return self.pending + self.frozen + self.available + self.in_transit + self.withdrawn


def earnings(distributor: Distributor) -> Earnings:
    b = balances_for([distributor.pk])[distributor.pk]
    withdrawn = (
        Withdrawal.objects.filter(
            owner_kind=OWNER_KIND, owner_id=distributor.pk, status=WithdrawalStatus.PAID
        ).aggregate(total=Sum("amount_fen"))["total"]
        or 0
    )
    return Earnings(
        pending=b[LA.PENDING],
        frozen=b[LA.FROZEN],
        available=b[LA.AVAILABLE],
        in_transit=b[LA.IN_TRANSIT],
        withdrawn=withdrawn,
        owed=b[LA.RECEIVABLE],
    )


def commission_counts(distributor: Distributor | None = None) -> dict[str, int]:
    qs = Commission.objects.all()
    if distributor is not None:
        qs = qs.filter(distributor=distributor)
    return dict(qs.order_by().values_list("status").annotate(n=Count("id")))


def bound_customers(distributor: Distributor, limit: int = 50):
    """Customers this distributor referred whose binding is in force (direct referrals only)."""
    now = timezone.now()
    return (
        Binding.objects.filter(distributor=distributor, ended_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("customer")
        .order_by("-bound_at")[:limit]
    )


def bound_count(distributor: Distributor) -> int:
    now = timezone.now()
    return (
        Binding.objects.filter(distributor=distributor, ended_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )


def masked_name(name: str) -> str:
    """张三丰 -> 张**: enough for a distributor to recognise a referral, not to identify them."""
    name = (name or "").strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def sales_by_status(distributor: Distributor) -> list[tuple[str, str, int, int]]:
    """(status, label, count, net fen) for the distributor's commissions."""
    rows = dict(
        (row["status"], (row["n"], row["net"] or 0))
        for row in Commission.objects.filter(distributor=distributor)
        .order_by()
        .values("status")
        .annotate(
            n=Count("id"), net=Sum("amount_fen") - Sum("reversed_fen") - Sum("clawed_back_fen")
        )
    )
    return [(value, label, *rows.get(value, (0, 0))) for value, label in CommissionStatus.choices]
