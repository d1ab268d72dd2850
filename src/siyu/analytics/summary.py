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


def summarise_arrow(
    table,
    *,
    calibration_end: date,
    unit: str = "day",
) -> Summary:
    """The same summary as ``customer_summary`` for transactions already in memory: an Arrow
    table with columns ``customer``, ``day`` (date) and ``amount`` (may be null).

    When customers are integer ids that are dense enough to index arrays by (every table of
    siyu ids is), it runs in NumPy without hashing: one sort of the (customer, day) pairs packed
    into int64 finds the distinct purchase days, and per-customer sums are ``bincount``s. That
    is several times less work than a GROUP BY over millions of (customer, day) groups. Other keys
    (text, sparse numbers, nulls) go through DuckDB.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}")
    table = table.select(["customer", "day", "amount"])
    customers, days = table.column("customer"), table.column("day")
    dense = (
        table.num_rows > 0
        and pa.types.is_integer(customers.type)
        and customers.null_count == 0
        and days.null_count == 0
    )
    if dense:
        low, high = (v.as_py() for v in pc.min_max(customers).values())
        dense = high - low + 1 <= 4 * table.num_rows + 1024
    if not dense:
        con = duckdb.connect()
        try:
            con.register("_transactions", table)
            return customer_summary(
                con, "_transactions", calibration_end=calibration_end, unit=unit
            )
        finally:
            con.close()

    end = int(np.datetime64(calibration_end, "D").astype(np.int64))
    day = pc.cast(days, pa.date32()).cast(pa.int32()).to_numpy()
    ci = customers.to_numpy()
    amount = pc.fill_null(table.column("amount"), 0).cast(pa.float64()).to_numpy()
    if int(day.max()) > end:  # copies only when some purchases fall after the calibration end
        keep = day <= end
        day, ci, amount = day[keep], ci[keep], amount[keep]
    ci = ci.astype(np.int64) - low
    size = high - low + 1
    if ci.size == 0:
        return _summary_from_parts(np.zeros(0, np.int64), *(np.zeros(0),) * 5, unit, end)
    d0 = int(day.min())
    span = end - d0 + 1
    offset = day - np.int32(d0)
    key = ci * span
    key += offset
    key.sort()
    distinct = np.empty(key.size, dtype=bool)
    distinct[0] = True
    np.not_equal(key[1:], key[:-1], out=distinct[1:])
    key = key[distinct]  # one entry per customer and purchase day, sorted
    owner = key // span  # division by one scalar: NumPy's fast path
    day_of = key - owner * span
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], owner.size]
    present = owner[starts]
    first, last = day_of[starts], day_of[ends - 1]
    first_of = np.full(size, -1, dtype=np.int64)
    first_of[present] = first
    total = np.bincount(ci, weights=amount, minlength=size)[present]
    on_first = np.bincount(
        ci, weights=np.where(offset == first_of[ci], amount, 0.0), minlength=size
    )[present]
    return _summary_from_parts(
        present + low,
        (ends - starts - 1).astype(np.float64),
        (first + d0).astype(np.float64),
        (last + d0).astype(np.float64),
        total,
        on_first,
        unit,
        end,
    )


def _summary_from_parts(customer, x, first, last, total, on_first, unit, end) -> Summary:
    per_unit = UNIT_DAYS[unit]
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, (total - on_first) / np.where(x > 0, x, 1.0), np.nan)
    return Summary(
        customer=customer,
        frequency=x,
        recency=(last - first) / per_unit,
        T=(end - first) / per_unit,
        monetary=m,
        total_spend=total,
        first_day=first.astype(np.int64).astype("datetime64[D]"),
        last_day=last.astype(np.int64).astype("datetime64[D]"),
        unit=unit,
        calibration_end=date.fromordinal(date(1970, 1, 1).toordinal() + end),
    )
