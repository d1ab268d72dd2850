"""The transaction summary: the in-memory NumPy path gives what the DuckDB GROUP BY gives."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from siyu.analytics.summary import customer_summary, summarise_arrow

END = date(2026, 6, 30)


def transactions(rng, n=4000, customers=600, ids=None):
    cust = rng.integers(0, customers, n)
    keys = (np.arange(customers) * 3 + 1000) if ids is None else np.asarray(ids)
    day = np.datetime64(END) - rng.integers(-20, 700, n).astype("timedelta64[D]")
    amount = np.round(rng.gamma(2, 30, n), 2)
    # same-day second orders, and a few orders without an amount
    dup = rng.random(n) < 0.15
    table = pa.table(
        {
            "customer": pa.array(np.r_[keys[cust], keys[cust[dup]]]),
            "day": pa.array(np.r_[day, day[dup]].astype("datetime64[D]")),
            "amount": pa.array(
                np.r_[amount, amount[dup] / 2], mask=rng.random(n + dup.sum()) < 0.02
            ),
        }
    )
    return table


def by_duckdb(table, unit):
    con = duckdb.connect()
    con.register("t", table)
    return customer_summary(con, "t", calibration_end=END, unit=unit)


@pytest.mark.parametrize("unit", ["day", "week"])
def test_numpy_summary_equals_duckdb(unit):
    table = transactions(np.random.default_rng(1))
    ours, reference = summarise_arrow(table, calibration_end=END, unit=unit), by_duckdb(table, unit)
    assert len(ours) == len(reference) > 500
    np.testing.assert_array_equal(ours.customer, reference.customer)
    np.testing.assert_array_equal(ours.frequency, reference.frequency)
    np.testing.assert_allclose(ours.recency, reference.recency)
    np.testing.assert_allclose(ours.T, reference.T)
    np.testing.assert_allclose(ours.monetary, reference.monetary, equal_nan=True)
    np.testing.assert_allclose(ours.total_spend, reference.total_spend)
    np.testing.assert_array_equal(ours.first_day, reference.first_day)
    np.testing.assert_array_equal(ours.last_day, reference.last_day)
    assert ours.calibration_end == END
    # purchases after the calibration end are left out
    assert ours.last_day.max() <= np.datetime64(END)


def test_text_or_sparse_customer_keys_go_through_duckdb():
    rng = np.random.default_rng(2)
    sparse = transactions(rng, ids=rng.choice(10**12, 600, replace=False))
    text = sparse.set_column(0, "customer", sparse.column("customer").cast(pa.string()))
    for table in (sparse, text):
        ours, reference = summarise_arrow(table, calibration_end=END), by_duckdb(table, "day")
        np.testing.assert_array_equal(np.sort(ours.frequency), np.sort(reference.frequency))
        assert len(ours) == len(reference)


def test_a_customer_who_bought_twice_on_one_day_has_no_repeat_purchase():
    table = pa.table(
        {
            "customer": [7, 7, 7, 9],
            "day": [
                END - timedelta(days=10),
                END - timedelta(days=10),
                END - timedelta(days=3),
                END,
            ],
            "amount": [10.0, 5.0, 40.0, 8.0],
        }
    )
    s = summarise_arrow(table, calibration_end=END)
    assert list(s.customer) == [7, 9]
    assert list(s.frequency) == [1, 0]
    assert list(s.recency) == [7, 0] and list(s.T) == [10, 0]
    assert s.monetary[0] == 40.0 and np.isnan(s.monetary[1])
    assert list(s.total_spend) == [55.0, 8.0]
