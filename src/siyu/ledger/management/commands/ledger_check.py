"""`siyu ledger_check`: verify the ledger's invariants; exits 1 when any is broken."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from siyu.ledger.checks import verify


class Command(BaseCommand):
    help = (
        "Check that every journal entry balances, every cached balance equals the sum of its "
        "lines, no owner balance is negative and every clawback receivable is explained."
    )

    def handle(self, *args, **options):
        problems = verify()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} ledger problem(s) found")
        self.stdout.write(self.style.SUCCESS("Ledger OK: entries balance and balances match."))
