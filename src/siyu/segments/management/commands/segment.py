"""`siyu segment count|export|index`: evaluate segment rules from the command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from siyu.core.access import Actor
from siyu.core.errors import DomainError


class Command(BaseCommand):
    help = "Count or export the customers a segment rule selects (siyu segment --help)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        count = sub.add_parser("count", help="Print how many customers match a rule.")
        self._source(count, segment=True)
        count.add_argument("--json", action="store_true", help="print the count with its details")

        export = sub.add_parser("export", help="Write the members of a rule to CSV or XLSX.")
        self._source(export, segment=True)
        export.add_argument("--out", required=True, help="file to write")
        export.add_argument("--format", choices=["csv", "xlsx"], default=None)
        export.add_argument(
            "--pii",
            action="store_true",
            help="include names and phone numbers (as the --as user's role allows; audited)",
        )

        reindex = sub.add_parser("index", help="Rebuild the segment index from the snapshot.")
        reindex.add_argument("--force", action="store_true", help="even if it is up to date")

    @staticmethod
    def _source(parser, *, segment: bool) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--rule-file", help='JSON file with a rule (or {"rule": ...})')
        if segment:
            group.add_argument("--segment", type=int, help="id of a saved segment")
        parser.add_argument(
            "--as",
            dest="username",
            default=None,
            help="evaluate as this staff member (their row scope and rights); default: everyone",
        )

    def handle(self, *args, **options):
        try:
            if options["action"] == "index":
                return self._index(options)
            actor = self._actor(options["username"])
            rule = self._rule(actor, options)
            if options["action"] == "count":
                return self._count(actor, rule, options)
            return self._export(actor, rule, options)
        except DomainError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message}" + (f" ({detail})" if detail else "")) from None

    def _actor(self, username: str | None) -> Actor:
        if not username:
            return Actor.system("siyu segment")
        from siyu.staff.models import User

        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active staff member {username!r}")
        return Actor.for_user(user)

    def _rule(self, actor: Actor, options) -> dict:
        from siyu.segments import services

        if options.get("segment"):
            return services.get_segment(actor, options["segment"]).rule
        path = Path(options["rule_file"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CommandError(f"no such file: {path}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not JSON: {exc}") from None
        if isinstance(data, dict) and "rule" in data and "field" not in data:
            data = data["rule"]
        return data

    def _count(self, actor: Actor, rule: dict, options) -> None:
        from siyu.segments import services

        result = services.count(actor, rule)
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
        else:
            self.stdout.write(str(result.count))

    def _export(self, actor: Actor, rule: dict, options) -> None:
        from siyu.segments import services

        out = Path(options["out"])
        fmt = options["format"] or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
        started = time.perf_counter()
        if options.get("segment"):
            label = f"segment {options['segment']}"
        else:
            label = str(options["rule_file"])
        plan = services.plan_export(actor, rule=rule, personal_data=options["pii"], label=label)
        with open(out, "wb") as handle:
            services.write_export(plan, handle, fmt)
        kept = []
        if plan.with_name:
            kept.append("names")
        if plan.with_phone:
            kept.append("phones")
        elif plan.masked_phone:
            kept.append("masked phones")
        print(
            f"wrote {plan.count} customers to {out} ({fmt}"
            + (f", with {' and '.join(kept)}" if kept else ", no personal data")
            + f") in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )

    def _index(self, options) -> None:
        from siyu.segments import index

        try:
            report = index.build(force=options["force"])
        except index.IndexUnavailable as exc:
            raise CommandError(str(exc)) from None
        if report.built:
            self.stdout.write(
                f"segment index built from the snapshot in {report.seconds:.1f}s: "
                f"{report.customers} customers {report.steps}"
            )
        else:
            self.stdout.write("segment index already matches the snapshot")
