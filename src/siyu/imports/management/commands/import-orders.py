"""`siyu import-orders --preset tmall FILE`: import a platform order export from the command line.

Prints one summary line; exits 0 when the file was processed (rejected rows are in the report),
1 when it could not be (unreadable file, unknown header set, bad mapping file).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from siyu.core.access import Actor
from siyu.core.errors import DomainError
from siyu.imports import services
from siyu.imports.presets import PRESETS


class Command(BaseCommand):
    help = "Import a Tmall/JD/Douyin/Pinduoduo/Youzan order export (CSV or XLSX)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the export file (CSV or XLSX)")
        parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
        parser.add_argument("--mapping", help="TOML mapping file (required for --preset generic)")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and report; save nothing"
        )
        parser.add_argument("--report", help="write the JSON report to this file")

    def handle(self, *args, **options):
        mapping_text = ""
        if options["mapping"]:
            try:
                mapping_text = Path(options["mapping"]).read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise CommandError(f"cannot read the mapping file: {exc}") from exc
        actor = Actor.system("siyu import-orders")
        try:
            job = services.import_path(
                options["file"],
                preset=options["preset"],
                actor=actor,
                mapping_text=mapping_text,
                dry_run=options["dry_run"],
            )
        except services.ImportFailed as exc:
            raise CommandError(f"{exc.job.original_name}: {exc.job.error}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if options["report"]:
            with open(options["report"], "w", encoding="utf-8") as fh:
                for chunk in services.report_json_chunks(job):
                    fh.write(chunk)
        self.stdout.write(services.summary_line(job))
