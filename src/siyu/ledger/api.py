"""Ledger API (staff): withdrawals and their decisions, account statements, the self-check."""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from siyu.core.api import ErrorBody, actor
from siyu.core.pagination import keyset_page

from . import checks, services
from .queries import with_running_balance

router = Router(tags=["ledger"])


class WithdrawalOut(Schema):
    id: int
    owner_kind: str
    owner_id: int
    owner_label: str
    amount_fen: int
    status: str
    adapter: str
    out_bill_no: str | None
    provider_bill_no: str
    provider_state: str
    reject_reason: str
    failure_reason: str
    requested_at: datetime
    decided_at: datetime | None
    paid_at: datetime | None


class WithdrawalPage(Schema):
    items: list[WithdrawalOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class ReasonIn(Schema):
    reason: str


class LineOut(Schema):
    id: int
    entry_key: str
    entry_kind: str
    memo: str
    occurred_at: datetime
    amount_fen: int
    balance_fen: int


class StatementOut(Schema):
    account_id: int
    owner_kind: str
    owner_id: int
    purpose: str
    kind: str
    balance_fen: int
    lines: list[LineOut]
    next_cursor: int | None


class ProblemOut(Schema):
    kind: str
    detail: str


class CheckOut(Schema):
    ok: bool
    problems: list[ProblemOut]


@router.get("/withdrawals/", response={200: WithdrawalPage, 403: ErrorBody})
def list_withdrawals(request, status: str = "", after: int | None = None, size: int = 50):
    """Withdrawals, newest first (`status=requested` is the review queue)."""
    qs = services.visible_withdrawals(actor(request))
    if status:
        qs = qs.filter(status=status)
    page = keyset_page(qs, after=after, size=size)
    return {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


@router.post(
    "/withdrawals/{withdrawal_id}/approve",
    response={200: WithdrawalOut, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody},
)
def approve(request, withdrawal_id: int):
    """Approve; the payout is sent in the background right after."""
    return services.approve_withdrawal(withdrawal_id, actor=actor(request))


@router.post(
    "/withdrawals/{withdrawal_id}/reject",
    response={200: WithdrawalOut, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
def reject(request, withdrawal_id: int, payload: ReasonIn):
    """Reject with a reason the payee sees; the money returns to their balance."""
    return services.reject_withdrawal(withdrawal_id, actor=actor(request), reason=payload.reason)


@router.get(
    "/accounts/{account_id}/lines", response={200: StatementOut, 403: ErrorBody, 404: ErrorBody}
)
def statement(request, account_id: int, after: int | None = None, size: int = 50):
    """An account's lines, newest first, each with the balance just after it."""
    account = get_object_or_404(services.visible_accounts(actor(request)), pk=account_id)
    page = keyset_page(account.lines.select_related("entry"), after=after, size=size)
    return {
        "account_id": account.pk,
        "owner_kind": account.owner_kind,
        "owner_id": account.owner_id,
        "purpose": account.purpose,
        "kind": account.kind,
        "balance_fen": services.balance_of(account),
        "lines": [
            {
                "id": line.pk,
                "entry_key": line.entry.key,
                "entry_kind": line.entry.kind,
                "memo": line.entry.memo,
                "occurred_at": line.entry.occurred_at,
                "amount_fen": line.amount_fen,
                "balance_fen": balance,
            }
            for line, balance in with_running_balance(account, page)
        ],
        "next_cursor": page.next_cursor,
    }


@router.get("/check", response={200: CheckOut, 403: ErrorBody})
def check(request):
    """Run the ledger's self-check (balanced entries, balances equal lines, clawbacks explained)."""
    services.visible_accounts(actor(request))
    problems = checks.verify()
    return {
        "ok": not problems,
        "problems": [{"kind": p.kind, "detail": p.detail} for p in problems],
    }
