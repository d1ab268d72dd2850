"""Read-side helpers for ledger pages: account statements with running balances."""

from __future__ import annotations

from django.db.models import Sum

from siyu.core.pagination import Page

from .models import Account, JournalLine


def with_running_balance(account: Account, page: Page) -> list[tuple[JournalLine, int]]:
    """Pair each line of a newest-first page with the account's balance just after it.

    One aggregate gives the balance at the page's newest line; walking down the page subtracts
    each line, so a statement of a million lines costs two indexed queries per page.
    """
    lines = page.items
    if not lines:
        return []
    raw = (
        JournalLine.objects.filter(account=account, pk__lte=lines[0].pk).aggregate(
            total=Sum("amount_fen")
        )["total"]
        or 0
    )
    balance = account.sign * raw
    rows = []
    for line in lines:
        rows.append((line, balance))
        balance -= account.sign * line.amount_fen
    return rows
