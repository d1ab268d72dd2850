"""`siyu snapshot`: refresh the columnar snapshot (or show what it holds)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from siyu.analytics import snapshot


class Command(BaseCommand):
    help = "Refresh the DuckDB snapshot of customers, orders, lines, tags and consents."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="rebuild it from scratch")
        parser.add_argument("--status", action="store_true", help="only show what it holds")

    def handle(self, *args, **options):
        if options["status"]:
            self.stdout.write(json.dumps(snapshot.status(), default=str, indent=2))
            return
        with snapshot.writer(rebuild=options["full"]) as con:
            report = snapshot.refresh(con, full=options["full"])
        for name, t in report.tables.items():
            kind = "incremental" if t["incremental"] else "full"
            self.stdout.write(
                f"{name:<16} {kind:<11} read {t['rows_read']:>9}  rows {t['rows']:>10}  "
                f"{t['seconds']:.2f}s"
            )
        self.stdout.write(
            f"snapshot refreshed in {report.seconds:.1f}s: {snapshot.snapshot_path()}"
        )
