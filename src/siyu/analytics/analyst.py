"""`siyu clv fit`: fit BG/NBD (and Gamma-Gamma) to any transaction file and check it on a holdout.

The file is read by DuckDB as text (no type guessing surprises), dates are parsed with the given
format or a list of common ones, and everything else is the same summary and model code the nightly
scoring uses.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np

from . import clv
from .summary import UNIT_DAYS, Summary, customer_summary, holdout_purchases

DATE_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d.%m.%Y",
    "%m/%d/%Y",
]
SEPARATORS = {"comma": ",", "tab": "\t", "semicolon": ";", "pipe": "|"}


class TransactionFileError(ValueError):
    """The transaction file or the column names given do not fit together."""


@dataclass
class FitResult:
    summary: Summary
    bgnbd: clv.BgNbdParams
    gamma_gamma: clv.GammaGammaParams | None
    gamma_gamma_error: str
    holdout: dict | None
    calibration: dict

    def as_dict(self) -> dict:
        bg = self.bgnbd
        out: dict = {
            "customers": len(self.summary),
            "unit": self.summary.unit,
            "calibration": self.calibration,
            "bgnbd": {
                "r": bg.r,
                "alpha": bg.alpha,
                "a": bg.a,
                "b": bg.b,
                "log_likelihood": bg.log_likelihood,
                "converged": bg.converged,
            },
            "gamma_gamma": None,
            "holdout": self.holdout,
        }
        if self.gamma_gamma is not None:
            gg = self.gamma_gamma
            out["gamma_gamma"] = {
                "p": gg.p,
                "q": gg.q,
                "gamma": gg.gamma,
                "log_likelihood": gg.log_likelihood,
                "customers": gg.customers,
                "converged": gg.converged,
                "frequency_spend_correlation": gg.frequency_spend_correlation,
            }
        elif self.gamma_gamma_error:
            out["gamma_gamma"] = {"error": self.gamma_gamma_error}
        return out


def load_transactions(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    sep: str = "auto",
    header: bool = True,
    date_format: str | None = None,
) -> None:
    """Create the view ``tx(customer, day, amount)`` over the file."""
    path = Path(path)
    if not path.exists():
        raise TransactionFileError(f"{path}: no such file")
    source = path
    if sep == "whitespace":
        source = _whitespace_to_csv(path)
        sep = ","
    options = ["all_varchar = true", f"header = {'true' if header else 'false'}"]
    if sep != "auto":
        delimiter = SEPARATORS.get(sep, sep)
        options.append("delim = " + _sql_string(delimiter))
    con.execute(
        f"CREATE OR REPLACE TABLE raw_tx AS SELECT * FROM read_csv({_sql_string(str(source))}, "
        + ", ".join(options)
        + ")"
    )
    if source != path:
        source.unlink(missing_ok=True)
    columns = [row[0] for row in con.execute("DESCRIBE raw_tx").fetchall()]
    if not header:
        # headerless files: columns are named by 1-based position
        con.execute(
            "CREATE OR REPLACE TABLE raw_tx AS SELECT "
            + ", ".join(f'"{c}" AS "{i}"' for i, c in enumerate(columns, start=1))
            + " FROM raw_tx"
        )
        columns = [str(i) for i in range(1, len(columns) + 1)]
    wanted = [c for c in (customer_col, date_col, amount_col) if c]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise TransactionFileError(
            f"column(s) {', '.join(missing)} not in the file; it has: {', '.join(columns)}"
        )
    formats = [date_format] if date_format else DATE_FORMATS
    amount = (
        f"TRY_CAST(replace(trim(\"{amount_col}\"), ',', '') AS DOUBLE)"
        if amount_col
        else "NULL::DOUBLE"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE tx AS
        SELECT trim("{customer_col}") AS customer,
               CAST(coalesce(TRY_CAST(trim("{date_col}") AS TIMESTAMP),
                             try_strptime(trim("{date_col}"), {_sql_list(formats)})) AS DATE) AS day,
               {amount} AS amount
        FROM raw_tx
        WHERE "{customer_col}" IS NOT NULL AND trim("{customer_col}") <> ''
        """
    )
    bad = con.execute("SELECT count(*) FROM tx WHERE day IS NULL").fetchall()[0][0]
    if bad:
        sample = con.execute(
            f'SELECT "{date_col}" FROM raw_tx WHERE "{date_col}" IS NOT NULL LIMIT 1'
        ).fetchall()
        sample = sample[0] if sample else None
        raise TransactionFileError(
            f"{bad} row(s) have a date that cannot be read (e.g. {sample[0] if sample else ''!r});"
            " pass --date-format"
        )
    con.execute("DROP TABLE raw_tx")


def fit_transactions(
    con: duckdb.DuckDBPyConnection,
    *,
    calibration_end: date | None = None,
    unit: str = "week",
    with_amounts: bool = False,
) -> FitResult:
    """Fit the models on the ``tx`` view; evaluate on the holdout after ``calibration_end``."""
    first, last, n_rows = con.execute("SELECT min(day), max(day), count(*) FROM tx").fetchall()[0]
    if not n_rows:
        raise TransactionFileError("the file has no transactions")
    cal_end = calibration_end or last
    if cal_end < first:
        raise TransactionFileError(f"calibration end {cal_end} is before the first purchase")
    summary = customer_summary(con, "tx", calibration_end=cal_end, unit=unit)
    bg = clv.fit_bgnbd(summary.frequency, summary.recency, summary.T)
    gg, gg_error = None, ""
    if with_amounts:
        try:
            gg = clv.fit_gamma_gamma(summary.frequency, summary.monetary)
        except clv.InsufficientData as exc:
            gg_error = str(exc)
    calibration = {
        "start": first.isoformat(),
        "end": cal_end.isoformat(),
        "repeat_purchases": int(summary.frequency.sum()),
    }
    holdout = None
    if last > cal_end:
        holdout = _holdout(con, summary, bg, gg, cal_end, last)
    return FitResult(summary, bg, gg, gg_error, holdout, calibration)


def _holdout(con, summary: Summary, bg, gg, cal_end: date, end: date) -> dict:
    length = (end - cal_end).days / UNIT_DAYS[summary.unit]
    x, t_x, T = summary.frequency, summary.recency, summary.T
    expected = clv.expected_purchases(bg, length, x, t_x, T)
    actual = holdout_purchases(con, "tx", summary.customer, start_after=cal_end, end=end)
    new_customers = con.execute(
        "SELECT count(DISTINCT customer) FROM tx WHERE customer NOT IN "
        "(SELECT DISTINCT customer FROM tx WHERE day <= ?::DATE)",
        [cal_end],
    ).fetchall()[0][0]
    by_frequency = []
    top = 7
    for k in range(top + 1):
        mask = x >= k if k == top else x == k
        if not mask.any():
            continue
        by_frequency.append(
            {
                "frequency": f"{top}+" if k == top else k,
                "customers": int(mask.sum()),
                "expected_mean": float(expected[mask].mean()),
                "actual_mean": float(actual[mask].mean()),
            }
        )
    exp_total, act_total = float(expected.sum()), float(actual.sum())
    out = {
        "start": (cal_end + timedelta(days=1)).isoformat(),
        "end": end.isoformat(),
        "length": length,
        "customers": len(summary),
        "expected_repeat_purchases": exp_total,
        "actual_repeat_purchases": act_total,
        "relative_error": (exp_total - act_total) / act_total if act_total else None,
        "mean_absolute_error": float(np.abs(expected - actual).mean()),
        "by_frequency": by_frequency,
        "new_customers_after_calibration": int(new_customers),
    }
    if gg is not None:
        spend = clv.expected_average_spend(gg, x, summary.monetary)
        out["expected_spend"] = float(np.nansum(expected * spend))
        actual_spend = con.execute(
            "SELECT coalesce(sum(amount), 0) FROM tx WHERE day > ?::DATE AND day <= ?::DATE "
            "AND customer IN (SELECT DISTINCT customer FROM tx WHERE day <= ?::DATE)",
            [cal_end, end, cal_end],
        ).fetchall()[0][0]
        out["actual_spend"] = float(actual_spend)
    return out


def _whitespace_to_csv(path: Path) -> Path:
    """Fixed-width / space-separated files (like CDNOW's) become a temporary CSV."""
    target = Path(tempfile.mkstemp(prefix="siyu-tx-", suffix=".csv")[1])
    splitter = re.compile(r"\s+")
    with path.open(encoding="utf-8", errors="replace") as src, target.open("w") as out:
        for line in src:
            line = line.strip()
            if line:
                out.write(",".join(splitter.split(line)) + "\n")
    return target


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_string(v) for v in values) + "]"
