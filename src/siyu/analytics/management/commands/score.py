"""`siyu score`: refresh the snapshot and score every customer now (what the nightly job does)."""

from __future__ import annotations

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from siyu.analytics.services import run_scoring
from siyu.core.access import Actor


class Command(BaseCommand):
    help = "Score every customer now: RFM, user value, CLV (BG/NBD + Gamma-Gamma), cycles, stage."

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of", type=date.fromisoformat, default=None, help="score as of this day"
        )
        parser.add_argument(
            "--full-refresh", action="store_true", help="rebuild the snapshot from scratch"
        )
        parser.add_argument("--json", action="store_true", help="print the run as JSON")

    def handle(self, *args, **options):
        try:
            run = run_scoring(
                actor=Actor.system("siyu score"),
                trigger="command",
                as_of=options["as_of"],
                full_refresh=options["full_refresh"],
            )
        except Exception as exc:
            raise CommandError(f"scoring failed: {exc}") from exc
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "run_id": run.pk,
                        "as_of": run.as_of.isoformat(),
                        "customers": run.customers,
                        "buyers": run.buyers,
                        "seconds": run.seconds,
                        "parameters": run.parameters,
                        "figures": run.figures,
                    },
                    ensure_ascii=False,
                    default=str,
                )
            )
            return
        f = run.figures
        self.stdout.write(
            f"score run {run.pk}: {run.customers} customers ({run.buyers} with purchases) "
            f"as of {run.as_of} in {run.seconds:.1f}s"
        )
        bg = run.parameters.get("bgnbd", {})
        if "error" in bg:
            self.stdout.write(f"  BG/NBD not fitted: {bg['error']}")
        else:
            self.stdout.write(
                f"  BG/NBD r={bg['r']:.4g} alpha={bg['alpha']:.4g} a={bg['a']:.4g} b={bg['b']:.4g}"
            )
        self.stdout.write(f"  RFM groups: {f.get('rfm_groups')}")
        self.stdout.write(f"  lifecycle: {f.get('lifecycle')}")
        self.stdout.write(f"  replenishment due: {f.get('replenishment_due')}")
