"""Posting to the ledger, and the earnings operations built on it.

`post()` is the one way money moves: it checks the entry balances, inserts it under its unique
business key (a duplicate key means "already posted" and returns the first entry), locks the cached
accounts in primary-key order and moves their balances in the same transaction, refusing to take an
owner account below zero.

These functions are building blocks: the domain service that calls them (distribution's
commissions, later community-leader commissions and cashback) has already locked its own rows and
authorised the actor. Functions a person triggers from the console (approving a withdrawal,
waiving a clawback) authorise here.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from siyu.core.money import format_fen
from siyu.core.states import transition

from . import accounts as A
from .accounts import PLATFORM_OWNER, Owner
from .models import (
    Account,
    Clawback,
    JournalEntry,
    JournalLine,
    Withdrawal,
    WithdrawalStatus,
    WithdrawalStatusChange,
)

log = logging.getLogger(__name__)


class UnbalancedEntry(DomainError):
    """A journal entry must have at least two lines, none zero, summing to zero."""

    code = "unbalanced_entry"
    status = 500


class EntryKeyConflict(Conflict):
    """An entry with this business key was already posted with different lines."""

    code = "ledger_key_conflict"


class InsufficientBalance(Conflict):
    """The balance is not enough for this."""

    code = "insufficient_balance"


class WithdrawalBlocked(Conflict):
    """Withdrawals are blocked until the clawback is covered."""

    code = "withdrawal_blocked_by_clawback"


# --- posting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One side of a posting: a debit (positive) or credit (negative) to an owner's account."""

    owner: Owner
    purpose: str
    amount_fen: int


def debit(owner: Owner, purpose: str, fen: int) -> Leg:
    return Leg(owner, purpose, int(fen))


def credit(owner: Owner, purpose: str, fen: int) -> Leg:
    return Leg(owner, purpose, -int(fen))


@dataclass(frozen=True)
class Posting:
    entry: JournalEntry
    created: bool


def account_for(owner: Owner, purpose_code: str) -> Account:
    """The account for an owner and purpose, created on first use (race-safe)."""
    spec = A.purpose(purpose_code)
    if spec.platform and owner != PLATFORM_OWNER:
        raise ValueError(f"{purpose_code} is a platform account")
    if not spec.platform and owner == PLATFORM_OWNER:
        raise ValueError(f"{purpose_code} is an owner account")
    found = Account.objects.filter(
        owner_kind=owner.kind, owner_id=owner.id, purpose=purpose_code
    ).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Account.objects.create(
                owner_kind=owner.kind,
                owner_id=owner.id,
                purpose=purpose_code,
                kind=spec.kind,
                cached=spec.cached,
                may_go_negative=spec.may_go_negative,
                label=f"{owner} · {purpose_code}"[:150],
            )
    except IntegrityError:
        return Account.objects.get(owner_kind=owner.kind, owner_id=owner.id, purpose=purpose_code)


def _validate(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise UnbalancedEntry(_("A journal entry needs at least two lines."))
    if any(leg.amount_fen == 0 for leg in legs):
        raise UnbalancedEntry(_("A journal line cannot be zero."))
    if sum(leg.amount_fen for leg in legs) != 0:
        raise UnbalancedEntry(_("The lines of a journal entry must sum to zero."))


def _same_lines(entry: JournalEntry, resolved: list[tuple[int, int]]) -> bool:
    posted = Counter(entry.lines.values_list("account_id", "amount_fen"))
    return posted == Counter(resolved)


def post(
    key: str,
    legs: Sequence[Leg],
    *,
    kind: str,
    actor: Actor,
    memo: str = "",
    source: tuple[str, int] | None = None,
    occurred_at: datetime | None = None,
    data: dict | None = None,
    reverses: JournalEntry | None = None,
) -> Posting:
    """Post a balanced entry exactly once per `key`. A second post with the same key and the same
    lines returns the first entry (created=False); with different lines it raises, because two
    different movements must never share a key."""
    legs = [leg for leg in legs]
    _validate(legs)
    accounts = {(leg.owner, leg.purpose): account_for(leg.owner, leg.purpose) for leg in legs}
    resolved = [(accounts[(leg.owner, leg.purpose)].pk, leg.amount_fen) for leg in legs]

    existing = JournalEntry.objects.filter(key=key).first()
    if existing is not None:
        return _already_posted(existing, resolved)

    try:
        with transaction.atomic():
            entry = JournalEntry(
                key=key,
                kind=kind,
                memo=memo[:255],
                source_type=source[0] if source else "",
                source_id=source[1] if source else None,
                reverses=reverses,
                occurred_at=occurred_at or timezone.now(),
                actor_label=actor.label[:150],
                data=data or {},
            )
            entry.save(force_insert=True)
            by_account: dict[int, int] = defaultdict(int)
            for account_id, amount in resolved:
                by_account[account_id] += amount
            cached_ids = sorted(a.pk for a in accounts.values() if a.cached)
            locked = {
                a.pk: a
                for a in Account.objects.select_for_update()
                .filter(pk__in=cached_ids)
                .order_by("pk")
            }
            for account_id in cached_ids:
                account = locked[account_id]
                delta = account.sign * by_account[account_id]
                if not account.may_go_negative and account.balance_fen + delta < 0:
                    raise InsufficientBalance(
                        _("Not enough in %(account)s: %(balance)s, needs %(needed)s.")
                        % {
                            "account": account,
                            "balance": format_fen(account.balance_fen),
                            "needed": format_fen(-delta),
                        },
                        fields={"amount_fen": _("More than the balance.")},
                    )
            JournalLine.objects.bulk_create(
                [
                    JournalLine(entry=entry, account_id=account_id, amount_fen=amount)
                    for account_id, amount in resolved
                ]
            )
            for account_id in cached_ids:
                delta = locked[account_id].sign * by_account[account_id]
                if delta:
                    Account.objects.filter(pk=account_id).update(
                        balance_fen=F("balance_fen") + delta
                    )
    except IntegrityError:
        # Another transaction posted the same key first (we waited on its unique index entry).
        existing = JournalEntry.objects.filter(key=key).first()
        if existing is None:
            raise
        return _already_posted(existing, resolved)
    return Posting(entry, True)


def _already_posted(existing: JournalEntry, resolved: list[tuple[int, int]]) -> Posting:
    if not _same_lines(existing, resolved):
        raise EntryKeyConflict(
            _("Entry %(key)s was already posted with different lines.") % {"key": existing.key}
        )
    return Posting(existing, False)


def is_posted(key: str) -> bool:
    return JournalEntry.objects.filter(key=key).exists()


def reverse(entry: JournalEntry, *, key: str, actor: Actor, memo: str = "") -> Posting:
    """Undo an entry with its mirror image (the only correction the ledger allows)."""
    legs = []
    for line in entry.lines.select_related("account"):
        owner = Owner(line.account.owner_kind, line.account.owner_id)
        legs.append(Leg(owner, line.account.purpose, -line.amount_fen))
    return post(
        key,
        legs,
        kind="reversal",
        actor=actor,
        memo=memo or _("Reversal of %(key)s") % {"key": entry.key},
        source=(entry.source_type, entry.source_id) if entry.source_type else None,
        reverses=entry,
    )


# --- balances ----------------------------------------------------------------------------------


def sum_of_lines(account: Account) -> int:
    """The account's balance on its normal side, from its lines alone."""
    raw = account.lines.aggregate(total=Sum("amount_fen"))["total"] or 0
    return account.sign * raw


def balance_of(account: Account) -> int:
    return account.balance_fen if account.cached else sum_of_lines(account)


def balances(owner: Owner) -> dict[str, int]:
    """Every owner-side balance by purpose (0 where no account exists yet)."""
    found = dict(
        Account.objects.filter(owner_kind=owner.kind, owner_id=owner.id).values_list(
            "purpose", "balance_fen"
        )
    )
    return {code: found.get(code, 0) for code in A.OWNER_PURPOSES}


def _lock(owner: Owner, *purposes: str) -> dict[str, Account]:
    """Lock some of an owner's accounts (creating them first) in primary-key order."""
    ids = {account_for(owner, p).pk: p for p in purposes}
    locked = Account.objects.select_for_update().filter(pk__in=list(ids)).order_by("pk")
    return {ids[a.pk]: a for a in locked}


def outstanding_clawback(owner: Owner) -> int:
    account = Account.objects.filter(
        owner_kind=owner.kind, owner_id=owner.id, purpose=A.RECEIVABLE
    ).first()
    return account.balance_fen if account else 0


# --- earnings lifecycle ------------------------------------------------------------------------


def credit_earning(
    owner: Owner,
    amount_fen: int,
    *,
    key: str,
    actor: Actor,
    memo: str = "",
    source: tuple[str, int] | None = None,
    expense: str = A.COMMISSION_EXPENSE,
    data: dict | None = None,
) -> Posting:
    """An owner earned money that is not theirs to withdraw yet (the sale is paid)."""
    return post(
        key,
        [debit(PLATFORM_OWNER, expense, amount_fen), credit(owner, A.PENDING, amount_fen)],
        kind="earning.credit",
        actor=actor,
        memo=memo,
        source=source,
        data=data,
    )


def move_earning(
    owner: Owner,
    amount_fen: int,
    *,
    from_purpose: str,
    to_purpose: str,
    key: str,
    actor: Actor,
    memo: str = "",
    source: tuple[str, int] | None = None,
) -> Posting:
    """Move earnings from one stage to the next (pending -> frozen)."""
    return post(
        key,
        [debit(owner, from_purpose, amount_fen), credit(owner, to_purpose, amount_fen)],
        kind="earning.move",
        actor=actor,
        memo=memo,
        source=source,
    )


def cancel_earning(
    owner: Owner,
    amount_fen: int,
    *,
    stage: str,
    key: str,
    actor: Actor,
    memo: str = "",
    source: tuple[str, int] | None = None,
    expense: str = A.COMMISSION_EXPENSE,
) -> Posting:
    """Take back earnings that were never settled (a refund inside the after-sales window)."""
    if stage not in (A.PENDING, A.FROZEN):
        raise ValueError("only unsettled earnings can be cancelled; settled ones are clawed back")
    return post(
        key,
        [debit(owner, stage, amount_fen), credit(PLATFORM_OWNER, expense, amount_fen)],
        kind="earning.cancel",
        actor=actor,
        memo=memo,
        source=source,
    )


def _into_available(owner: Owner, amount_fen: int, receivable: Account) -> tuple[list[Leg], int]:
    """Credit legs for money becoming the owner's again: an outstanding clawback is covered first."""
    cover = min(amount_fen, receivable.balance_fen)
    legs = []
    if cover:
        legs.append(credit(owner, A.RECEIVABLE, cover))
    if amount_fen - cover:
        legs.append(credit(owner, A.AVAILABLE, amount_fen - cover))
    return legs, cover


def _recover(owner: Owner, amount_fen: int, *, now: datetime) -> None:
    """Mark `amount_fen` of the owner's open clawbacks recovered, oldest first."""
    remaining = amount_fen
    open_ones = (
        Clawback.objects.select_for_update()
        .filter(owner_kind=owner.kind, owner_id=owner.id, closed_at__isnull=True)
        .order_by("id")
    )
    for clawback in open_ones:
        if remaining <= 0:
            break
        take = min(remaining, clawback.outstanding_fen)
        clawback.recovered_fen += take
        remaining -= take
        if clawback.outstanding_fen == 0:
            clawback.closed_at = now
        clawback.save(update_fields=["recovered_fen", "closed_at"])
    if remaining:
        raise AssertionError("clawback receivable is not explained by open clawbacks")


def settle_earning(
    owner: Owner,
    amount_fen: int,
    *,
    key: str,
    actor: Actor,
    memo: str = "",
    source: tuple[str, int] | None = None,
    now: datetime | None = None,
) -> Posting:
    """The after-sales window closed: frozen earnings become available (first covering any
    outstanding clawback)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(owner, A.FROZEN, A.AVAILABLE, A.RECEIVABLE)
        existing = JournalEntry.objects.filter(key=key).first()
        if existing is not None:
            return Posting(existing, False)
        legs, cover = _into_available(owner, amount_fen, locked[A.RECEIVABLE])
        posting = post(
            key,
            [debit(owner, A.FROZEN, amount_fen), *legs],
            kind="earning.settle",
            actor=actor,
            memo=memo,
            source=source,
            occurred_at=now,
            data={"clawback_covered_fen": cover} if cover else None,
        )
        if posting.created and cover:
            _recover(owner, cover, now=now)
        return posting


def claw_back(
    owner: Owner,
    amount_fen: int,
    *,
    key: str,
    reason: str,
    actor: Actor,
    source: tuple[str, int] | None = None,
    expense: str = A.COMMISSION_EXPENSE,
    now: datetime | None = None,
) -> Clawback:
    """Take back settled earnings. What the available balance cannot cover becomes a receivable,
    explained by the returned `Clawback`, and blocks withdrawals until covered."""
    now = now or timezone.now()
    if amount_fen <= 0:
        raise ValueError("a clawback takes a positive amount")
    with transaction.atomic():
        locked = _lock(owner, A.AVAILABLE, A.RECEIVABLE)
        existing = Clawback.objects.filter(key=key).first()
        if existing is not None:
            return existing
        from_available = min(amount_fen, locked[A.AVAILABLE].balance_fen)
        owed = amount_fen - from_available
        legs = [credit(PLATFORM_OWNER, expense, amount_fen)]
        if from_available:
            legs.append(debit(owner, A.AVAILABLE, from_available))
        if owed:
            legs.append(debit(owner, A.RECEIVABLE, owed))
        post(
            key,
            legs,
            kind="earning.clawback",
            actor=actor,
            memo=reason,
            source=source,
            occurred_at=now,
            data={"from_available_fen": from_available, "owed_fen": owed},
        )
        clawback = Clawback.objects.create(
            owner_kind=owner.kind,
            owner_id=owner.id,
            amount_fen=amount_fen,
            recovered_fen=from_available,
            key=key,
            reason=reason[:255],
            source_type=source[0] if source else "",
            source_id=source[1] if source else None,
            created_at=now,
            closed_at=now if owed == 0 else None,
        )
        return clawback


def waive_clawback(clawback_id: int, *, actor: Actor, reason: str) -> Clawback:
    """Write off what is still owed on a clawback (the merchant gives up on it)."""
    authorize(actor, "ledger.manage_clawbacks")
    if not reason.strip():
        raise ValidationFailed(_("Give a reason."), fields={"reason": _("Required.")})
    with transaction.atomic():
        clawback = Clawback.objects.select_for_update().filter(pk=clawback_id).first()
        if clawback is None:
            raise NotFound()
        owner = Owner(clawback.owner_kind, clawback.owner_id)
        _lock(owner, A.RECEIVABLE)
        clawback.refresh_from_db()
        amount = clawback.outstanding_fen
        if amount <= 0:
            raise Conflict(_("Nothing is outstanding on this clawback."))
        post(
            f"clawback:{clawback.pk}:waive",
            [
                debit(PLATFORM_OWNER, A.CLAWBACK_WRITEOFF, amount),
                credit(owner, A.RECEIVABLE, amount),
            ],
            kind="clawback.waive",
            actor=actor,
            memo=reason,
            source=("ledger.clawback", clawback.pk),
        )
        clawback.waived_fen += amount
        clawback.closed_at = timezone.now()
        clawback.save(update_fields=["waived_fen", "closed_at"])
        audit.record(
            actor, "ledger.clawback_waived", obj=clawback, summary=reason, data={"fen": amount}
        )
    return clawback


def record_clawback_repayment(
    clawback_id: int, amount_fen: int, *, reference: str, actor: Actor
) -> Clawback:
    """The owner paid back (part of) a clawback outside siyu, e.g. by bank transfer. `reference`
    (the transfer's number) makes recording it idempotent."""
    authorize(actor, "ledger.manage_clawbacks")
    reference = reference.strip()
    if not reference:
        raise ValidationFailed(
            _("Enter the payment reference."), fields={"reference": _("Required.")}
        )
    with transaction.atomic():
        clawback = Clawback.objects.select_for_update().filter(pk=clawback_id).first()
        if clawback is None:
            raise NotFound()
        owner = Owner(clawback.owner_kind, clawback.owner_id)
        _lock(owner, A.RECEIVABLE)
        key = f"clawback:{clawback.pk}:repay:{reference}"[:200]
        if is_posted(key):
            return clawback
        if amount_fen <= 0 or amount_fen > clawback.outstanding_fen:
            raise ValidationFailed(
                _("Enter an amount between ¥0.01 and %(max)s.")
                % {"max": format_fen(clawback.outstanding_fen)},
                fields={"amount_fen": _("Out of range.")},
            )
        post(
            key,
            [debit(PLATFORM_OWNER, A.CASH, amount_fen), credit(owner, A.RECEIVABLE, amount_fen)],
            kind="clawback.repay",
            actor=actor,
            memo=reference,
            source=("ledger.clawback", clawback.pk),
        )
        clawback.recovered_fen += amount_fen
        if clawback.outstanding_fen == 0:
            clawback.closed_at = timezone.now()
        clawback.save(update_fields=["recovered_fen", "closed_at"])
        audit.record(
            actor,
            "ledger.clawback_repaid",
            obj=clawback,
            summary=reference,
            data={"fen": amount_fen},
        )
    return clawback


# --- withdrawals -------------------------------------------------------------------------------

WITHDRAWAL_TRANSITIONS = {
    WithdrawalStatus.REQUESTED: frozenset({WithdrawalStatus.APPROVED, WithdrawalStatus.REJECTED}),
    WithdrawalStatus.APPROVED: frozenset({WithdrawalStatus.PAYING, WithdrawalStatus.REJECTED}),
    WithdrawalStatus.PAYING: frozenset({WithdrawalStatus.PAID, WithdrawalStatus.FAILED}),
    WithdrawalStatus.PAID: frozenset(),
    WithdrawalStatus.REJECTED: frozenset(),
    WithdrawalStatus.FAILED: frozenset(),
}


def _move(w: Withdrawal, target: str, *, actor: Actor, note: str = "", fields=()) -> None:
    transition(
        w,
        target,
        table=WITHDRAWAL_TRANSITIONS,
        history=WithdrawalStatusChange,
        subject_field="withdrawal",
        actor=actor,
        note=note,
        update_fields=tuple(fields),
    )


def out_bill_no(withdrawal_id: int) -> str:
    """The payout's merchant number: letters and digits only (WeChat Pay's rule), stable."""
    return f"{settings.SIYU_PAYOUT_BILL_PREFIX}{withdrawal_id:012d}"


def request_withdrawal(
    owner: Owner,
    amount_fen: int,
    *,
    actor: Actor,
    min_fen: int,
    adapter: str,
    payee_openid: str = "",
    payee_name: str = "",
    owner_label: str = "",
) -> Withdrawal:
    """Hold `amount_fen` of the owner's available balance for a payout. The caller (the domain
    service) has checked the actor may withdraw for this owner."""
    if amount_fen < min_fen:
        raise ValidationFailed(
            _("The minimum withdrawal is %(min)s.") % {"min": format_fen(min_fen)},
            fields={"amount_fen": _("Below the minimum.")},
        )
    with transaction.atomic():
        locked = _lock(owner, A.AVAILABLE, A.IN_TRANSIT, A.RECEIVABLE)
        if locked[A.RECEIVABLE].balance_fen > 0:
            raise WithdrawalBlocked(
                _(
                    "A refund took back %(owed)s of settled earnings that is not covered yet; "
                    "withdrawals open again once later earnings cover it."
                )
                % {"owed": format_fen(locked[A.RECEIVABLE].balance_fen)}
            )
        if amount_fen > locked[A.AVAILABLE].balance_fen:
            raise InsufficientBalance(
                _("You can withdraw at most %(max)s.")
                % {"max": format_fen(locked[A.AVAILABLE].balance_fen)},
                fields={"amount_fen": _("More than the available balance.")},
            )
        if Withdrawal.objects.filter(
            owner_kind=owner.kind, owner_id=owner.id, status__in=list(_OPEN)
        ).exists():
            raise Conflict(_("A withdrawal is already in progress; wait for it to finish."))
        w = Withdrawal.objects.create(
            owner_kind=owner.kind,
            owner_id=owner.id,
            owner_label=owner_label[:150],
            amount_fen=amount_fen,
            adapter=adapter,
            payee_openid=payee_openid,
            payee_name=payee_name,
        )
        w.out_bill_no = out_bill_no(w.pk)
        w.save(update_fields=["out_bill_no"])
        WithdrawalStatusChange.objects.create(
            withdrawal=w,
            from_status="",
            to_status=w.status,
            actor_kind=actor.kind,
            actor_id=actor.customer_id if actor.kind == "customer" else actor.user_id,
            actor_label=actor.label[:150],
        )
        post(
            f"withdrawal:{w.pk}:request",
            [debit(owner, A.AVAILABLE, amount_fen), credit(owner, A.IN_TRANSIT, amount_fen)],
            kind="withdrawal.request",
            actor=actor,
            source=("ledger.withdrawal", w.pk),
        )
    return w


_OPEN = frozenset({WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED, WithdrawalStatus.PAYING})


def _locked_withdrawal(withdrawal_id: int) -> Withdrawal:
    w = Withdrawal.objects.select_for_update().filter(pk=withdrawal_id).first()
    if w is None:
        raise NotFound()
    return w


def _release(w: Withdrawal, *, key: str, actor: Actor, memo: str) -> None:
    """Return a withdrawal's money from "in transit" to the owner (covering clawbacks first)."""
    owner = Owner(w.owner_kind, w.owner_id)
    locked = _lock(owner, A.IN_TRANSIT, A.AVAILABLE, A.RECEIVABLE)
    legs, cover = _into_available(owner, w.amount_fen, locked[A.RECEIVABLE])
    posting = post(
        key,
        [debit(owner, A.IN_TRANSIT, w.amount_fen), *legs],
        kind="withdrawal.release",
        actor=actor,
        memo=memo,
        source=("ledger.withdrawal", w.pk),
    )
    if posting.created and cover:
        _recover(owner, cover, now=timezone.now())


def approve_withdrawal(withdrawal_id: int, *, actor: Actor) -> Withdrawal:
    """Approve a requested withdrawal; the payout runs in the background right after."""
    authorize(actor, "ledger.approve_withdrawal")
    with transaction.atomic():
        w = _locked_withdrawal(withdrawal_id)
        owed = outstanding_clawback(Owner(w.owner_kind, w.owner_id))
        if owed > 0 and w.status == WithdrawalStatus.REQUESTED:
            raise WithdrawalBlocked(
                _("This payee owes %(owed)s from a clawback; reject the withdrawal instead.")
                % {"owed": format_fen(owed)}
            )
        w.decided_at = timezone.now()
        w.decided_by = actor.label[:150]
        _move(w, WithdrawalStatus.APPROVED, actor=actor, fields=("decided_at", "decided_by"))
        audit.record(actor, "ledger.withdrawal_approved", obj=w, summary=format_fen(w.amount_fen))
        transaction.on_commit(lambda: _enqueue_payout(w.pk))
    return w


def _enqueue_payout(withdrawal_id: int) -> None:
    from .tasks import pay_withdrawal

    pay_withdrawal.enqueue(withdrawal_id)


def reject_withdrawal(withdrawal_id: int, *, actor: Actor, reason: str) -> Withdrawal:
    """Refuse a withdrawal with a reason the payee sees; the money returns to their balance."""
    authorize(actor, "ledger.approve_withdrawal")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _("Tell the payee why the withdrawal is rejected."), fields={"reason": _("Required.")}
        )
    with transaction.atomic():
        w = _locked_withdrawal(withdrawal_id)
        w.reject_reason = reason[:255]
        w.decided_at = timezone.now()
        w.decided_by = actor.label[:150]
        _move(
            w,
            WithdrawalStatus.REJECTED,
            actor=actor,
            note=reason,
            fields=("reject_reason", "decided_at", "decided_by"),
        )
        _release(w, key=f"withdrawal:{w.pk}:release", actor=actor, memo=reason)
        audit.record(actor, "ledger.withdrawal_rejected", obj=w, summary=reason)
    return w


def execute_payout(withdrawal_id: int, *, adapter=None) -> Withdrawal:
    """Send an approved withdrawal through its payout adapter (the background task's body).

    Idempotent: the provider sees the same `out_bill_no` on every attempt, so a retry after a
    timeout or a duplicated task never pays twice. No database lock is held during the call.
    """
    from . import payouts

    system = Actor.system("payout")
    with transaction.atomic():
        w = _locked_withdrawal(withdrawal_id)
        if w.status == WithdrawalStatus.APPROVED:
            _move(w, WithdrawalStatus.PAYING, actor=system)
        elif w.status != WithdrawalStatus.PAYING:
            return w
        w.attempts += 1
        w.last_attempt_at = timezone.now()
        w.save(update_fields=["attempts", "last_attempt_at"])
    adapter = adapter or payouts.get_adapter(w.adapter)
    request = payouts.PayoutRequest(
        out_bill_no=w.out_bill_no,
        amount_fen=w.amount_fen,
        openid=w.payee_openid,
        user_name=w.payee_name,
        remark=settings.SIYU_PAYOUT_REMARK,
    )
    try:
        result = adapter.transfer(request)
    except payouts.PayoutUnavailable as exc:
        log.warning("payout %s not confirmed: %s", w.out_bill_no, exc)
        return _note_error(w.pk, str(exc))
    return apply_payout_result(w.pk, result)


def refresh_payout(withdrawal_id: int, *, adapter=None) -> Withdrawal:
    """Ask the provider how a payout stands; if it never received it, send it again (same
    `out_bill_no`, so this is safe)."""
    from . import payouts

    w = Withdrawal.objects.get(pk=withdrawal_id)
    if w.status != WithdrawalStatus.PAYING:
        return w
    adapter = adapter or payouts.get_adapter(w.adapter)
    try:
        result = adapter.query(w.out_bill_no)
    except payouts.PayoutUnavailable as exc:
        return _note_error(w.pk, str(exc))
    if result.state == payouts.NOT_FOUND:
        return execute_payout(w.pk, adapter=adapter)
    return apply_payout_result(w.pk, result)


def _note_error(withdrawal_id: int, message: str) -> Withdrawal:
    with transaction.atomic():
        w = _locked_withdrawal(withdrawal_id)
        w.failure_reason = message[:255]
        w.save(update_fields=["failure_reason"])
    return w


def apply_payout_result(withdrawal_id: int, result) -> Withdrawal:
    """Record what the provider said: paid (money leaves the ledger), failed (money returns to
    the payee's balance), or still in progress."""
    from . import payouts

    system = Actor.system("payout")
    with transaction.atomic():
        w = _locked_withdrawal(withdrawal_id)
        if w.status != WithdrawalStatus.PAYING:
            return w
        w.provider_state = result.provider_state[:32]
        if result.provider_bill_no:
            w.provider_bill_no = result.provider_bill_no[:64]
        w.package_info = result.package_info or ""
        fields = ("provider_state", "provider_bill_no", "package_info")
        if result.state == payouts.SUCCESS:
            w.paid_at = result.finished_at or timezone.now()
            w.failure_reason = ""
            _move(
                w,
                WithdrawalStatus.PAID,
                actor=system,
                fields=(*fields, "paid_at", "failure_reason"),
            )
            owner = Owner(w.owner_kind, w.owner_id)
            post(
                f"withdrawal:{w.pk}:paid",
                [
                    debit(owner, A.IN_TRANSIT, w.amount_fen),
                    credit(PLATFORM_OWNER, A.CASH, w.amount_fen),
                ],
                kind="withdrawal.paid",
                actor=system,
                memo=w.provider_bill_no,
                source=("ledger.withdrawal", w.pk),
                occurred_at=w.paid_at,
            )
        elif result.state == payouts.FAILED:
            w.failure_reason = (result.reason or result.provider_state)[:255]
            _move(
                w,
                WithdrawalStatus.FAILED,
                actor=system,
                note=w.failure_reason,
                fields=(*fields, "failure_reason"),
            )
            _release(w, key=f"withdrawal:{w.pk}:release", actor=system, memo=w.failure_reason)
        else:
            w.failure_reason = result.reason[:255] if result.reason else ""
            w.save(update_fields=[*fields, "failure_reason"])
    return w


def stalled_payouts(older_than_seconds: int = 60) -> Iterable[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return Withdrawal.objects.filter(
        status=WithdrawalStatus.PAYING, last_attempt_at__lt=cutoff
    ).values_list("pk", flat=True)


# --- read access -------------------------------------------------------------------------------


def visible_withdrawals(actor: Actor):
    authorize(actor, "ledger.view")
    return Withdrawal.objects.all()


def visible_accounts(actor: Actor):
    authorize(actor, "ledger.view")
    return Account.objects.all()
