"""`siyu clv fit`: BG/NBD and Gamma-Gamma on any transaction file, for analysts."""

from __future__ import annotations

import json
import math
from datetime import date

import duckdb
from django.core.management.base import BaseCommand, CommandError

from siyu.analytics import clv
from siyu.analytics.analyst import (
    SEPARATORS,
    TransactionFileError,
    fit_transactions,
    load_transactions,
)


class Command(BaseCommand):
    help = "Customer lifetime value models for analysts (siyu clv fit --help)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        fit = sub.add_parser(
            "fit",
            help="Fit BG/NBD (and Gamma-Gamma with --amount-col) to a transaction file.",
            description=(
                "Reads a transaction file (one row per purchase), builds the frequency/recency/T "
                "summary (one purchase per day), fits BG/NBD and, with amounts, Gamma-Gamma, and "
                "compares expected with actual repeat purchases after --calibration-end."
            ),
        )
        fit.add_argument("--transactions", required=True, help="CSV (or delimited text) file")
        fit.add_argument("--customer-col", required=True)
        fit.add_argument("--date-col", required=True)
        fit.add_argument("--amount-col", default=None)
        fit.add_argument(
            "--calibration-end",
            type=date.fromisoformat,
            default=None,
            help="last day (YYYY-MM-DD) of the calibration period; later rows are the holdout",
        )
        fit.add_argument("--unit", choices=["day", "week"], default="week")
        fit.add_argument(
            "--sep",
            default="auto",
            help=f"auto (default), whitespace, {', '.join(SEPARATORS)} or a single character",
        )
        fit.add_argument(
            "--no-header", action="store_true", help="no header row: columns are named 1, 2, 3..."
        )
        fit.add_argument("--date-format", default=None, help="strptime format, e.g. %%Y%%m%%d")
        fit.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        con = duckdb.connect()
        try:
            load_transactions(
                con,
                options["transactions"],
                customer_col=options["customer_col"],
                date_col=options["date_col"],
                amount_col=options["amount_col"],
                sep=options["sep"],
                header=not options["no_header"],
                date_format=options["date_format"],
            )
            result = fit_transactions(
                con,
                calibration_end=options["calibration_end"],
                unit=options["unit"],
                with_amounts=bool(options["amount_col"]),
            )
        except (TransactionFileError, clv.InsufficientData, ValueError, duckdb.Error) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            con.close()
        data = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(_finite(data), ensure_ascii=False))
            return
        self._print(data)

    def _print(self, data: dict) -> None:
        w = self.stdout.write
        unit = data["unit"]
        cal = data["calibration"]
        w(f"customers: {data['customers']}  (time unit: {unit})")
        w(
            f"calibration: {cal['start']} .. {cal['end']}, "
            f"{cal['repeat_purchases']} repeat purchases"
        )
        bg = data["bgnbd"]
        w("BG/NBD")
        w(f"  r     = {bg['r']:.4f}")
        w(f"  alpha = {bg['alpha']:.4f}")
        w(f"  a     = {bg['a']:.4f}")
        w(f"  b     = {bg['b']:.4f}")
        w(f"  log-likelihood = {bg['log_likelihood']:.3f}")
        if not bg["converged"]:
            w(self.style.WARNING("  the optimiser did not converge cleanly; check the data"))
        gg = data["gamma_gamma"]
        if gg and "error" in gg:
            w(f"Gamma-Gamma: not fitted ({gg['error']})")
        elif gg:
            w(f"Gamma-Gamma ({gg['customers']} customers with repeat purchases)")
            w(f"  p     = {gg['p']:.4f}")
            w(f"  q     = {gg['q']:.4f}")
            w(f"  gamma = {gg['gamma']:.4f}")
            w(f"  log-likelihood = {gg['log_likelihood']:.3f}")
            w(f"  corr(frequency, spend) = {gg['frequency_spend_correlation']:.3f}")
        ho = data["holdout"]
        if not ho:
            w("holdout: none (no transactions after the calibration end)")
            return
        w(f"holdout: {ho['start']} .. {ho['end']} ({ho['length']:.2f} {unit}s)")
        w(f"  expected repeat purchases: {ho['expected_repeat_purchases']:.1f}")
        w(f"  actual repeat purchases:   {ho['actual_repeat_purchases']:.0f}")
        if ho["relative_error"] is not None:
            w(f"  relative error: {ho['relative_error']:+.1%}")
        w("  by calibration frequency: x, customers, expected mean, actual mean")
        for row in ho["by_frequency"]:
            w(
                f"    {row['frequency']!s:>3} {row['customers']:>7} "
                f"{row['expected_mean']:>8.3f} {row['actual_mean']:>8.3f}"
            )
        if "expected_spend" in ho:
            w(f"  expected spend: {ho['expected_spend']:.2f}  actual: {ho['actual_spend']:.2f}")


def _finite(value):
    """JSON has no NaN/Infinity: turn them into null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
