import pytest
from django.db import IntegrityError, connection, transaction

from siyu.core.access import Actor
from siyu.ledger import accounts as A
from siyu.ledger import services as ledger
from siyu.ledger.accounts import PLATFORM_OWNER, Owner
from siyu.ledger.checks import verify
from siyu.ledger.models import Account, JournalEntry, JournalLine

SYSTEM = Actor.system("test")
ALICE = Owner("distributor", 1)


def balance(owner, purpose):
    return ledger.balance_of(ledger.account_for(owner, purpose))


def test_an_entry_must_balance(db):
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.post(
            "x:1",
            [
                ledger.debit(PLATFORM_OWNER, A.COMMISSION_EXPENSE, 100),
                ledger.credit(ALICE, A.PENDING, 99),
            ],
            kind="t",
            actor=SYSTEM,
        )
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.post(
            "x:2",
            [ledger.debit(ALICE, A.PENDING, 0), ledger.credit(ALICE, A.FROZEN, 0)],
            kind="t",
            actor=SYSTEM,
        )
    assert JournalEntry.objects.count() == 0


def test_posting_moves_cached_balances_on_their_normal_side(db):
    ledger.credit_earning(ALICE, 1500, key="commission:1:1", actor=SYSTEM)
    assert balance(ALICE, A.PENDING) == 1500
    assert balance(PLATFORM_OWNER, A.COMMISSION_EXPENSE) == 1500
    # the platform's hot account is summed, not cached
    expense = ledger.account_for(PLATFORM_OWNER, A.COMMISSION_EXPENSE)
    assert expense.cached is False and expense.balance_fen == 0
    assert verify() == []


def test_the_same_key_posts_once(db):
    first = ledger.credit_earning(ALICE, 1500, key="commission:1:1", actor=SYSTEM)
    again = ledger.credit_earning(ALICE, 1500, key="commission:1:1", actor=SYSTEM)
    assert first.created and not again.created
    assert again.entry.pk == first.entry.pk
    assert balance(ALICE, A.PENDING) == 1500


def test_the_same_key_with_different_lines_is_refused(db):
    ledger.credit_earning(ALICE, 1500, key="commission:1:1", actor=SYSTEM)
    with pytest.raises(ledger.EntryKeyConflict):
        ledger.credit_earning(ALICE, 1600, key="commission:1:1", actor=SYSTEM)


def test_an_owner_account_never_goes_below_zero(db):
    ledger.credit_earning(ALICE, 100, key="c:1", actor=SYSTEM)
    with pytest.raises(ledger.InsufficientBalance):
        ledger.move_earning(
            ALICE, 101, from_purpose=A.PENDING, to_purpose=A.FROZEN, key="m:1", actor=SYSTEM
        )
    assert not JournalEntry.objects.filter(key="m:1").exists()
    # and the database agrees, whatever code tries
    account = ledger.account_for(ALICE, A.PENDING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(balance_fen=-1)


def test_entries_and_lines_are_append_only_in_the_model(db):
    posting = ledger.credit_earning(ALICE, 100, key="c:1", actor=SYSTEM)
    entry = posting.entry
    entry.memo = "changed"
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()
    line = entry.lines.first()
    with pytest.raises(RuntimeError):
        line.save()
    with pytest.raises(RuntimeError):
        line.delete()


def test_corrections_are_reversal_entries(db):
    original = ledger.credit_earning(ALICE, 700, key="c:1", actor=SYSTEM).entry
    reversal = ledger.reverse(original, key="c:1:reversal", actor=SYSTEM).entry
    assert reversal.reverses_id == original.pk
    assert balance(ALICE, A.PENDING) == 0
    assert sorted(reversal.lines.values_list("amount_fen", flat=True)) == [-700, 700]
    with pytest.raises(IntegrityError), transaction.atomic():
        # an entry is reversed at most once
        ledger.reverse(original, key="c:1:reversal-2", actor=SYSTEM)


def test_settlement_covers_an_outstanding_clawback_first(db):
    ledger.credit_earning(ALICE, 1000, key="c:1", actor=SYSTEM)
    ledger.move_earning(
        ALICE, 1000, from_purpose=A.PENDING, to_purpose=A.FROZEN, key="c:1:f", actor=SYSTEM
    )
    ledger.settle_earning(ALICE, 1000, key="c:1:s", actor=SYSTEM)
    ledger.credit_earning(ALICE, 500, key="c:2", actor=SYSTEM)
    ledger.move_earning(
        ALICE, 500, from_purpose=A.PENDING, to_purpose=A.FROZEN, key="c:2:f", actor=SYSTEM
    )

    clawback = ledger.claw_back(ALICE, 1300, key="c:1:cb", reason="refund", actor=SYSTEM)
    assert clawback.recovered_fen == 1000 and clawback.outstanding_fen == 300
    assert balance(ALICE, A.AVAILABLE) == 0
    assert balance(ALICE, A.RECEIVABLE) == 300
    assert verify() == []

    ledger.settle_earning(ALICE, 500, key="c:2:s", actor=SYSTEM)
    clawback.refresh_from_db()
    assert clawback.outstanding_fen == 0 and clawback.closed_at is not None
    assert balance(ALICE, A.RECEIVABLE) == 0
    assert balance(ALICE, A.AVAILABLE) == 200
    assert verify() == []


def test_the_check_finds_a_tampered_cache(db):
    ledger.credit_earning(ALICE, 100, key="c:1", actor=SYSTEM)
    Account.objects.filter(owner_id=1, purpose=A.PENDING).update(balance_fen=5)
    problems = verify()
    assert [p.kind for p in problems] == ["balance_mismatch"]


def test_the_check_command_fails_on_problems(db):
    from django.core.management import CommandError, call_command

    ledger.credit_earning(ALICE, 100, key="c:1", actor=SYSTEM)
    call_command("ledger_check")
    Account.objects.filter(owner_id=1, purpose=A.PENDING).update(balance_fen=5)
    with pytest.raises(CommandError):
        call_command("ledger_check")


@pytest.mark.postgres
def test_postgres_refuses_updates_and_deletes_of_the_journal(db):
    entry = ledger.credit_earning(ALICE, 100, key="c:1", actor=SYSTEM).entry
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(memo="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.filter(entry=entry).update(amount_fen=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        JournalLine.objects.filter(entry=entry)._raw_delete(connection.alias)


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_entry_at_commit(db):
    account = ledger.account_for(ALICE, A.PENDING)
    with pytest.raises(IntegrityError), transaction.atomic():
        entry = JournalEntry(key="bad", kind="t")
        entry.save(force_insert=True)
        JournalLine.objects.create(entry=entry, account=account, amount_fen=5)
        with connection.cursor() as cursor:
            # what COMMIT would do: run the deferred check now
            cursor.execute("SET CONSTRAINTS ledger_journalline_balanced IMMEDIATE")
