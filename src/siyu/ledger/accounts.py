"""The chart of accounts: which purposes exist, their accounting type, and who owns them.

Owner accounts (a distributor's, later a community leader's) follow one earnings lifecycle:

    pending  ->  frozen  ->  available  ->  in transit  ->  paid out (platform cash)
    (paid)     (completed,   (after-sales    (withdrawal
                window open)  window closed)  requested)

plus a clawback receivable (money the owner owes back after a refund of settled earnings). All
owner accounts are cached and may never go negative (a database CHECK), so a shortfall can only
appear as a receivable explained by a `Clawback` row.

Platform accounts are summed on demand, never cached: every commission posting touches them, and a
cached balance would make that one row a lock every payment in the shop waits for.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from .models import AccountKind

PLATFORM = "platform"


@dataclass(frozen=True)
class Purpose:
    code: str
    kind: str
    label: object
    platform: bool = False

    @property
    def cached(self) -> bool:
        return not self.platform

    @property
    def may_go_negative(self) -> bool:
        return self.platform


# Owner-side purposes.
PENDING = "earnings_pending"
FROZEN = "earnings_frozen"
AVAILABLE = "earnings_available"
IN_TRANSIT = "withdrawal_in_transit"
RECEIVABLE = "clawback_receivable"
# Platform-side purposes.
COMMISSION_EXPENSE = "commission_expense"
CLAWBACK_WRITEOFF = "clawback_writeoff"
CASH = "cash"
REFERRAL_EXPENSE = "referral_expense"

PURPOSES: dict[str, Purpose] = {
    p.code: p
    for p in (
        Purpose(PENDING, AccountKind.LIABILITY, _("Earnings pending (order paid)")),
        Purpose(FROZEN, AccountKind.LIABILITY, _("Earnings frozen (after-sales window)")),
        Purpose(AVAILABLE, AccountKind.LIABILITY, _("Earnings available to withdraw")),
        Purpose(IN_TRANSIT, AccountKind.LIABILITY, _("Withdrawals in transit")),
        Purpose(RECEIVABLE, AccountKind.ASSET, _("Clawback receivable")),
        Purpose(COMMISSION_EXPENSE, AccountKind.EXPENSE, _("Commission expense"), platform=True),
        Purpose(CLAWBACK_WRITEOFF, AccountKind.EXPENSE, _("Clawbacks written off"), platform=True),
        Purpose(CASH, AccountKind.ASSET, _("Merchant funds (payouts)"), platform=True),
        Purpose(
            REFERRAL_EXPENSE, AccountKind.EXPENSE, _("Referral cashback expense"), platform=True
        ),
    )
}

LABELS = {code: p.label for code, p in PURPOSES.items()}

OWNER_PURPOSES = (PENDING, FROZEN, AVAILABLE, IN_TRANSIT, RECEIVABLE)
# Money that belongs to the owner (what they see as "my earnings"), by stage.
EARNING_STAGES = (PENDING, FROZEN, AVAILABLE, IN_TRANSIT)


@dataclass(frozen=True)
class Owner:
    """Who holds an account: ("distributor", 12), later ("leader", 3)... or the platform."""

    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


PLATFORM_OWNER = Owner(PLATFORM, 0)


def purpose(code: str) -> Purpose:
    try:
        return PURPOSES[code]
    except KeyError:
        raise ValueError(f"unknown ledger account purpose {code!r}") from None
