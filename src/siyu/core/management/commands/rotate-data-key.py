"""`siyu rotate-data-key`: move personal data from SIYU_DATA_KEY_PREVIOUS to SIYU_DATA_KEY."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from siyu.core.errors import DomainError
from siyu.core.rotation import remaining_under_old_key, rotate_data_key


class Command(BaseCommand):
    help = (
        "Re-encrypt personal data under the current SIYU_DATA_KEY and re-key lookup hashes. "
        "Run with the server and worker stopped; see docs/operations.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options):
        try:
            report = rotate_data_key(batch_size=options["batch_size"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for key, count in sorted(report.reencrypted.items()):
            self.stdout.write(f"  {key}: {count} re-encrypted")
        left = remaining_under_old_key()
        self.stdout.write(
            self.style.SUCCESS(
                f"Rotated {report.total_reencrypted} value(s) in "
                f"{sum(report.scanned.values())} row(s); {left} left under another key."
            )
        )
        if left == 0:
            self.stdout.write("SIYU_DATA_KEY_PREVIOUS can now be removed.")
