"""`siyu export`: the brand's item-level data for its own warehouse (Parquet or CSV)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from siyu.analytics.export import FORMATS, export
from siyu.core.access import Actor
from siyu.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Export customers (pseudonymous by default), orders, order lines and scores as Parquet "
        "or CSV, with a manifest.json describing the schema."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="parquet")
        parser.add_argument("--out", required=True, help="directory to write into")
        parser.add_argument(
            "--include-pii",
            action="store_true",
            help="add decrypted names, phones and receiver addresses (needs --by, audited)",
        )
        parser.add_argument(
            "--by",
            default="",
            help="username of the staff member responsible (required with --include-pii)",
        )
        parser.add_argument(
            "--no-refresh", action="store_true", help="export the snapshot as it is"
        )

    def handle(self, *args, **options):
        actor = Actor.system("siyu export")
        if options["by"]:
            user = get_user_model().objects.filter(username=options["by"], is_active=True).first()
            if user is None:
                raise CommandError(f"no active staff member {options['by']!r}")
            actor = Actor.for_user(user)
        elif options["include_pii"]:
            raise CommandError("--include-pii needs --by USERNAME (an owner): it is audited")
        try:
            result = export(
                actor=actor,
                out=Path(options["out"]),
                fmt=options["format"],
                include_pii=options["include_pii"],
                refresh=not options["no_refresh"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for info in result.files.values():
            self.stdout.write(f"{info['file']:<24} {info['rows']:>10} rows")
        pii = "with personal data" if result.include_pii else "pseudonymous, no personal data"
        self.stdout.write(f"exported to {result.directory} ({pii}); schema in manifest.json")
