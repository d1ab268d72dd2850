"""From transactions to the frequency / recency / T summary the CLV models take, in DuckDB.

One purchase per day: several orders on the same calendar day count as one purchase occasion
(their amounts add up), as in the CDNOW summary of Fader, Hardie & Lee. Frequency ``x`` is the
number of purchase days after the first; recency ``t_x`` the time from the first to the last
purchase day; ``T`` the time from the first purchase day to the calibration end; the average spend
``m`` is the mean amount of the repeat purchase days (the first purchase is left out, as
acquisition orders are often atypical). Times are in days or weeks (days / 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np

UNIT_DAYS = {"day": 1.0, "week": 7.0}


@dataclass
class Summary:
    customer: np.ndarray  # customer keys (any type)
    frequency: np.ndarray  # x, float64 holding integers
    recency: np.ndarray  # t_x in units
    T: np.ndarray  # in units
    monetary: np.ndarray  # mean spend of repeat days (NaN when x = 0 or no amounts)
    total_spend: np.ndarray
    first_day: np.ndarray  # datetime64[D]
    last_day: np.ndarray
    unit: str
    calibration_end: date

    def __len__(self) -> int:
        return int(self.frequency.shape[0])


def customer_summary(
    con: duckdb.DuckDBPyConnection,
    transactions: str,
    *,
    calibration_end: date,
    unit: str = "day",
) -> Summary:
    """Summarise ``transactions`` (a table or view with columns customer, day DATE, amount DOUBLE)
    up to and including ``calibration_end``."""
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}")
    per_unit = UNIT_DAYS[unit]
    table = con.sql(
        f"""
        WITH days AS (
            SELECT customer, day, sum(coalesce(amount, 0)) AS amount
            FROM {transactions}
            WHERE day <= ?::DATE
            GROUP BY customer, day
        )
        SELECT customer,
               count(*) - 1 AS x,
               min(day) AS first_day,
               max(day) AS last_day,
               date_diff('day', min(day), max(day)) AS t_days,
               date_diff('day', min(day), ?::DATE) AS age_days,
               sum(amount) AS total,
               CASE WHEN count(*) > 1
                    THEN (sum(amount) - arg_min(amount, day)) / (count(*) - 1) END AS m
        FROM days
        GROUP BY customer
        ORDER BY customer
        """,
        params=[calibration_end, calibration_end],
    ).to_arrow_table()
    return Summary(
        customer=table.column("customer").to_numpy(),
        frequency=table.column("x").to_numpy().astype(np.float64),
        recency=table.column("t_days").to_numpy().astype(np.float64) / per_unit,
        T=table.column("age_days").to_numpy().astype(np.float64) / per_unit,
        monetary=table.column("m").to_numpy(zero_copy_only=False).astype(np.float64),
        total_spend=table.column("total").to_numpy(zero_copy_only=False).astype(np.float64),
        first_day=table.column("first_day").to_numpy(zero_copy_only=False).astype("datetime64[D]"),
        last_day=table.column("last_day").to_numpy(zero_copy_only=False).astype("datetime64[D]"),
        unit=unit,
        calibration_end=calibration_end,
    )


def holdout_purchases(
    con: duckdb.DuckDBPyConnection,
    transactions: str,
    customers: np.ndarray,
    *,
    start_after: date,
    end: date,
) -> np.ndarray:
    """Purchase days per customer in (start_after, end], aligned with ``customers``."""
    con.register("_holdout_customers", _key_table(customers))
    try:
        table = con.execute(
            f"""
            SELECT k.pos, count(DISTINCT t.day) AS n
            FROM _holdout_customers k
            JOIN {transactions} t ON t.customer = k.customer
            WHERE t.day > ?::DATE AND t.day <= ?::DATE
            GROUP BY k.pos
            """,
            [start_after, end],
        ).fetchnumpy()
    finally:
        con.unregister("_holdout_customers")
    out = np.zeros(len(customers), dtype=np.float64)
    out[table["pos"].astype(np.int64)] = table["n"]
    return out


def _key_table(customers: np.ndarray):
    import pyarrow as pa

    return pa.table({"customer": pa.array(customers), "pos": pa.array(np.arange(len(customers)))})
