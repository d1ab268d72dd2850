"""The nightly scoring pipeline over the snapshot: RFM, user value, BG/NBD + Gamma-Gamma, repurchase
cycles and lifecycle stage for every customer, as set-based DuckDB SQL plus NumPy for the models.

``score_snapshot(con, as_of)`` writes the ``scores``, ``category_cycles`` and
``customer_category_cycles`` tables into the snapshot and returns the fitted parameters and the
aggregate figures; services.py stores them in the main database. Rules and formulas are
documented in docs/analytics.md; the constants below are the ones it names.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from . import clv, conf

log = logging.getLogger(__name__)

HORIZON_SHORT_DAYS = 90
HORIZON_LONG_DAYS = 365
HIGH_VALUE_SCORE = 70  # value_score at or above this is "high value" (top 30% of buyers)
LOST_P_ALIVE = 0.10
AT_RISK_P_ALIVE = 0.50
LOST_MIN_DAYS = 365  # lost when silent for max(LOST_MIN_DAYS, 4 cycles)
LOST_CYCLES = 4
AT_RISK_CYCLES = 2
MIN_CATEGORY_INTERVALS = 5  # a category's cycle needs this many observed repurchases
SPEND_UNIT_FEN = 100.0  # Gamma-Gamma is fitted in yuan

# The R x FM grid (FM = F and M averaged, rounded half up). Rows R = 1..5, columns FM = 1..5.
RFM_GRID = {
    1: ["lost", "lost", "at_risk", "at_risk", "cant_lose"],
    2: ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"],
    3: ["need_attention", "need_attention", "need_attention", "loyal", "loyal"],
    4: ["promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"],
    5: ["new", "potential_loyalist", "potential_loyalist", "champions", "champions"],
}

SCORE_COLUMNS: list[tuple[str, str]] = [
    ("customer_id", "BIGINT"),
    ("as_of", "DATE"),
    ("orders", "BIGINT"),
    ("purchase_days", "BIGINT"),
    ("first_purchase_on", "DATE"),
    ("last_purchase_on", "DATE"),
    ("net_spend_fen", "BIGINT"),
    ("recency_days", "BIGINT"),
    ("r_score", "SMALLINT"),
    ("f_score", "SMALLINT"),
    ("m_score", "SMALLINT"),
    ("rfm_group", "VARCHAR"),
    ("orders_12m", "BIGINT"),
    ("margin_per_order_fen", "BIGINT"),
    ("converted_referrals", "BIGINT"),
    ("referral_index", "DOUBLE"),
    ("value_fen", "BIGINT"),
    ("value_score", "SMALLINT"),
    ("p_alive", "DOUBLE"),
    ("expected_purchases_90d", "DOUBLE"),
    ("expected_purchases_365d", "DOUBLE"),
    ("expected_order_value_fen", "BIGINT"),
    ("clv_90d_fen", "BIGINT"),
    ("clv_365d_fen", "BIGINT"),
    ("cycle_days", "DOUBLE"),
    ("cycle_source", "VARCHAR"),
    ("next_purchase_on", "DATE"),
    ("replenishment_due", "BOOLEAN"),
    ("lifecycle", "VARCHAR"),
]


@dataclass
class ScoringResult:
    as_of: date
    customers: int = 0
    buyers: int = 0
    parameters: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


class _Timer:
    def __init__(self):
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._t, 3)
        self._t = now


def score_snapshot(con: duckdb.DuckDBPyConnection, as_of: date) -> ScoringResult:
    """Compute every customer's scores as of the end of ``as_of`` (a local business day)."""
    timer = _Timer()
    result = ScoringResult(as_of=as_of)
    d = f"DATE '{as_of.isoformat()}'"

    # customers who count: not merged away, not erased; purchases of merged records follow them
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE survivor AS
        SELECT c.id, coalesce(m2.merged_into_id, c.merged_into_id, c.id) AS customer_id
        FROM customers c LEFT JOIN customers m2 ON m2.id = c.merged_into_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE base AS
        SELECT id AS customer_id, in_pool, referred_by_id FROM customers
        WHERE merged_into_id IS NULL AND erased_at IS NULL
        """
    )
    # one row per customer and purchase day; order cost is scaled to the money kept
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pdays AS
        SELECT s.customer_id, p.day,
               sum(p.net_fen) AS net_fen,
               count(*) AS orders,
               sum(CASE WHEN p.cost_fen > 0 THEN p.net_fen END) AS net_known,
               sum(CASE WHEN p.cost_fen > 0
                        THEN p.net_fen - p.cost_fen * p.net_fen / p.paid_fen END) AS margin_known,
               sum(CASE WHEN p.cost_fen > 0 THEN 0 ELSE p.net_fen END) AS net_unknown
        FROM purchases p JOIN survivor s ON s.id = p.customer_id
        WHERE p.day <= {d}
        GROUP BY 1, 2
        """
    )
    timer.lap("purchase_days")
    margin_rate = con.execute(
        "SELECT sum(margin_known) / nullif(sum(net_known), 0) FROM pdays"
    ).fetchall()[0][0]
    margin_rate = 1.0 if margin_rate is None else float(margin_rate)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE agg AS
        SELECT customer_id,
               count(*) - 1 AS x,
               min(day) AS first_day,
               max(day) AS last_day,
               date_diff('day', min(day), max(day)) AS t_days,
               date_diff('day', min(day), {d}) AS age_days,
               sum(orders) AS orders,
               sum(net_fen) AS net_fen,
               CASE WHEN count(*) > 1
                    THEN (sum(net_fen) - arg_min(net_fen, day)) / (count(*) - 1) END AS m_fen,
               coalesce(sum(orders) FILTER (WHERE day > {d} - INTERVAL 365 DAY), 0) AS orders_12m,
               (coalesce(sum(margin_known), 0) + coalesce(sum(net_unknown), 0) * {margin_rate})
                   / sum(orders) AS margin_per_order
        FROM pdays GROUP BY customer_id
        """
    )
    timer.lap("customer_aggregates")

    params = _fit_models(con, result)
    timer.lap("bgnbd_gamma_gamma")

    _cycles(con, as_of)
    timer.lap("repurchase_cycles")

    lead = conf.replenish_lead_days()
    grid_sql = _grid_case()
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE referral AS
        SELECT s.customer_id, count(DISTINCT c.id) AS converted
        FROM customers c
        JOIN survivor s ON s.id = c.referred_by_id
        JOIN survivor sc ON sc.id = c.id
        JOIN agg a ON a.customer_id = sc.customer_id
        WHERE c.merged_into_id IS NULL
        GROUP BY 1
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rfm AS
        WITH ranked AS (
            SELECT a.*, date_diff('day', a.last_day, {d}) AS recency_days,
                   count(*) OVER () AS n,
                   rank() OVER (ORDER BY date_diff('day', a.last_day, {d}) DESC) AS r_rank,
                   rank() OVER (ORDER BY a.orders) AS f_rank,
                   rank() OVER (ORDER BY a.net_fen) AS m_rank,
                   coalesce(r.converted, 0) AS converted_referrals,
                   1 + log2(1 + coalesce(r.converted, 0)) AS referral_index
            FROM agg a LEFT JOIN referral r ON r.customer_id = a.customer_id
        ), scored AS (
            SELECT *,
                   1 + floor(5 * (r_rank - 1) / n)::INT AS r_score,
                   1 + floor(5 * (f_rank - 1) / n)::INT AS f_score,
                   1 + floor(5 * (m_rank - 1) / n)::INT AS m_score,
                   orders_12m * greatest(margin_per_order, 0) * referral_index AS value
            FROM ranked
        )
        SELECT *, {grid_sql} AS rfm_group,
               CAST(round(100 * percent_rank() OVER (ORDER BY value)) AS SMALLINT) AS value_score
        FROM scored
        """
    )
    timer.lap("rfm_value")

    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE unpaid AS
        SELECT DISTINCT s.customer_id FROM orders o JOIN survivor s ON s.id = o.customer_id
        WHERE o.paid_at IS NULL AND local_day(o.placed_at) <= {d}
        """
    )
    con.execute("DELETE FROM scores")
    con.execute(
        f"""
        INSERT INTO scores
        SELECT b.customer_id,
               {d} AS as_of,
               coalesce(f.orders, 0),
               coalesce(f.x + 1, 0),
               f.first_day,
               f.last_day,
               coalesce(f.net_fen, 0),
               f.recency_days,
               f.r_score, f.f_score, f.m_score,
               f.rfm_group,
               coalesce(f.orders_12m, 0),
               CAST(round(f.margin_per_order) AS BIGINT),
               coalesce(f.converted_referrals, 0),
               coalesce(f.referral_index, 1.0),
               CAST(round(coalesce(f.value, 0)) AS BIGINT),
               f.value_score,
               p.p_alive,
               p.exp_short,
               p.exp_long,
               CAST(round(p.spend_fen) AS BIGINT),
               CAST(round(p.clv_short_fen) AS BIGINT),
               CAST(round(p.clv_long_fen) AS BIGINT),
               cy.cycle_days,
               cy.cycle_source,
               cy.next_on,
               coalesce(
                   {d} BETWEEN cy.next_on - {lead} AND cy.next_on + CAST(ceil(cy.cycle_days) AS INT),
                   false),
               CASE
                 WHEN f.customer_id IS NULL THEN
                   CASE WHEN u.customer_id IS NOT NULL THEN 'interested'
                        WHEN b.in_pool THEN 'related' ELSE 'aware' END
                 WHEN p.p_alive < {LOST_P_ALIVE}
                      OR f.recency_days > greatest({LOST_MIN_DAYS}, {LOST_CYCLES} * cy.cycle_days)
                   THEN 'lost'
                 WHEN p.p_alive < {AT_RISK_P_ALIVE}
                      OR f.recency_days > {AT_RISK_CYCLES} * cy.cycle_days
                   THEN 'at_risk'
                 WHEN f.x >= 1 AND f.value_score >= {HIGH_VALUE_SCORE} THEN 'loyal'
                 ELSE 'purchased'
               END
        FROM base b
        LEFT JOIN rfm f ON f.customer_id = b.customer_id
        LEFT JOIN predictions p ON p.customer_id = b.customer_id
        LEFT JOIN customer_cycle cy ON cy.customer_id = b.customer_id
        LEFT JOIN unpaid u ON u.customer_id = b.customer_id
        ORDER BY b.customer_id
        """
    )
    timer.lap("assemble")

    result.customers, result.buyers = con.execute(
        "SELECT count(*), count(first_purchase_on) FROM scores"
    ).fetchall()[0]
    result.parameters = params | {
        "margin_rate_for_unknown_cost": round(margin_rate, 6),
        "horizons_days": [HORIZON_SHORT_DAYS, HORIZON_LONG_DAYS],
        "annual_discount_rate": conf.clv_discount_rate(),
        "replenish_lead_days": lead,
    }
    result.figures = _figures(con)
    timer.lap("figures")
    result.timings = timer.timings | result.timings
    return result


def _grid_case() -> str:
    parts = []
    for r, row in RFM_GRID.items():
        for fm, group in enumerate(row, start=1):
            parts.append(
                f"WHEN r_score = {r} AND (f_score + m_score + 1) // 2 = {fm} THEN '{group}'"
            )
    return "CASE " + " ".join(parts) + " END"


def _fit_models(con: duckdb.DuckDBPyConnection, result: ScoringResult) -> dict:
    """Fit BG/NBD (on the distinct (x, t, T) triples, weighted) and Gamma-Gamma (on the repeat
    buyers), predict for every buyer, and write the temp table ``predictions``."""
    params: dict = {"unit": "day"}
    agg = con.execute("SELECT customer_id, x, t_days, age_days, m_fen FROM agg").fetchnumpy()
    m = agg["m_fen"]
    m = np.ma.filled(m.astype(np.float64), np.nan) if np.ma.isMaskedArray(m) else m
    discount = conf.clv_discount_rate()
    value = clv.fit_and_predict(
        agg["x"].astype(np.float64),
        agg["t_days"].astype(np.float64),
        agg["age_days"].astype(np.float64),
        np.asarray(m, dtype=np.float64) / SPEND_UNIT_FEN,
        horizons=(HORIZON_SHORT_DAYS, HORIZON_LONG_DAYS),
        discount_rate=(1 + discount) ** (30 / 365) - 1 if discount > 0 else 0.0,
        discount_step=30,
    )
    bg, gg = value.bgnbd, value.gamma_gamma
    params["bgnbd"] = bg.as_dict() if bg is not None else {"error": value.bgnbd_error}
    if gg is not None:
        params["gamma_gamma"] = gg.as_dict() | {"currency": "yuan"}
    else:
        params["gamma_gamma"] = {"error": value.gamma_gamma_error}
    params["distinct_triples"] = value.distinct_triples
    result.timings.update({f"models.{k}": v for k, v in value.timings.items()})
    if bg is not None:
        params["expected_purchases_new_customer_365d"] = clv.expected_purchases_new_customer(
            bg, HORIZON_LONG_DAYS
        )
    spend_fen = value.expected_spend * SPEND_UNIT_FEN
    columns = {
        "customer_id": agg["customer_id"],
        "p_alive": value.p_alive,
        "exp_short": value.expected_purchases[HORIZON_SHORT_DAYS],
        "exp_long": value.expected_purchases[HORIZON_LONG_DAYS],
        "spend_fen": spend_fen,
        "clv_short_fen": value.value[HORIZON_SHORT_DAYS] * SPEND_UNIT_FEN,
        "clv_long_fen": value.value[HORIZON_LONG_DAYS] * SPEND_UNIT_FEN,
    }
    predictions = pa.table(
        {
            name: (
                pa.array(col)
                if name == "customer_id"
                else pa.array(col, mask=~np.isfinite(col), type=pa.float64())
            )
            for name, col in columns.items()
        }
    )
    con.register("_predictions", predictions)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE predictions AS SELECT * FROM _predictions")
    finally:
        con.unregister("_predictions")
    return params


def _cycles(con: duckdb.DuckDBPyConnection, as_of: date) -> None:
    """Median days between purchases, per customer and per category; the expected next purchase."""
    d = f"DATE '{as_of.isoformat()}'"
    lead = conf.replenish_lead_days()
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE gaps AS
        SELECT customer_id,
               date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap
        FROM pdays
        """
    )
    overall = con.execute("SELECT median(gap) FROM gaps WHERE gap IS NOT NULL").fetchall()[0][0]
    overall = float(overall) if overall is not None else None
    # categories: lines of purchases whose category the catalogue knows
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE cat_days AS
        SELECT DISTINCT s.customer_id, l.category_id, p.day
        FROM order_lines l
        JOIN purchases p ON p.id = l.order_id
        JOIN survivor s ON s.id = p.customer_id
        WHERE l.category_id IS NOT NULL AND p.day <= {d} AND l.paid_fen > l.refunded_fen
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cat_gaps AS
        SELECT customer_id, category_id, day,
               date_diff('day', lag(day) OVER (PARTITION BY customer_id, category_id ORDER BY day),
                         day) AS gap
        FROM cat_days
        """
    )
    con.execute("DELETE FROM category_cycles")
    con.execute(
        f"""
        INSERT INTO category_cycles
        SELECT g.category_id, any_value(n.category_name), median(g.gap), count(g.gap),
               count(DISTINCT g.customer_id)
        FROM cat_gaps g
        LEFT JOIN (SELECT category_id, any_value(category_name) AS category_name
                   FROM order_lines WHERE category_id IS NOT NULL GROUP BY 1) n
               ON n.category_id = g.category_id
        GROUP BY g.category_id
        HAVING count(g.gap) >= {MIN_CATEGORY_INTERVALS}
        """
    )
    con.execute("DELETE FROM customer_category_cycles")
    con.execute(
        f"""
        INSERT INTO customer_category_cycles
        WITH per AS (
            SELECT customer_id, category_id, max(day) AS last_day, count(gap) AS intervals,
                   median(gap) AS own
            FROM cat_gaps GROUP BY 1, 2
        )
        SELECT per.customer_id, per.category_id, cc.category_name, per.last_day,
               CASE WHEN per.intervals >= 2 THEN per.own ELSE cc.cycle_days END AS cyc,
               per.last_day + CAST(round(cyc) AS INT),
               {d} BETWEEN per.last_day + CAST(round(cyc) AS INT) - {lead}
                       AND per.last_day + CAST(round(cyc) AS INT) + CAST(ceil(cyc) AS INT)
        FROM per LEFT JOIN category_cycles cc ON cc.category_id = per.category_id
        WHERE (per.intervals >= 2 OR cc.cycle_days IS NOT NULL)
        """
    )
    overall_sql = "NULL::DOUBLE" if overall is None else f"{overall}"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE customer_cycle AS
        WITH own AS (
            SELECT customer_id, median(gap) AS own, count(gap) AS intervals
            FROM gaps GROUP BY 1
        ), latest_cat AS (
            SELECT customer_id, arg_max(cc.cycle_days, cd.day) AS cat_cycle
            FROM cat_days cd JOIN category_cycles cc USING (category_id)
            GROUP BY 1
        )
        SELECT a.customer_id,
               CASE WHEN o.intervals >= 2 THEN o.own
                    WHEN lc.cat_cycle IS NOT NULL THEN lc.cat_cycle
                    ELSE {overall_sql} END AS cycle_days,
               CASE WHEN o.intervals >= 2 THEN 'customer'
                    WHEN lc.cat_cycle IS NOT NULL THEN 'category'
                    WHEN {overall_sql} IS NOT NULL THEN 'overall' END AS cycle_source,
               a.last_day + CAST(round(cycle_days) AS INT) AS next_on
        FROM agg a
        LEFT JOIN own o ON o.customer_id = a.customer_id
        LEFT JOIN latest_cat lc ON lc.customer_id = a.customer_id
        """
    )


def _figures(con: duckdb.DuckDBPyConnection) -> dict:
    def counts(column: str) -> dict:
        rows = con.execute(
            f"SELECT {column}, count(*) FROM scores WHERE {column} IS NOT NULL GROUP BY 1"
        ).fetchall()
        return {str(k): int(v) for k, v in sorted(rows)}

    row = con.execute(
        """
        SELECT avg(clv_365d_fen), sum(clv_365d_fen), avg(clv_90d_fen), sum(clv_90d_fen),
               avg(p_alive), sum(expected_purchases_365d), avg(value_fen) FILTER (WHERE orders > 0),
               count(*) FILTER (WHERE replenishment_due), count(*) FILTER (WHERE purchase_days > 1),
               count(*) FILTER (WHERE orders > 0), sum(net_spend_fen)
        FROM scores
        """
    ).fetchall()[0]

    def num(v):
        return None if v is None else float(v)

    buyers = int(row[9] or 0)
    categories = con.execute(
        "SELECT category_id, category_name, cycle_days, intervals, customers FROM category_cycles"
        " ORDER BY customers DESC LIMIT 50"
    ).fetchall()
    return {
        "rfm_groups": counts("rfm_group"),
        "lifecycle": counts("lifecycle"),
        "cycle_sources": counts("cycle_source"),
        "mean_clv_365d_fen": num(row[0]),
        "total_clv_365d_fen": num(row[1]),
        "mean_clv_90d_fen": num(row[2]),
        "total_clv_90d_fen": num(row[3]),
        "mean_p_alive": num(row[4]),
        "expected_purchases_365d": num(row[5]),
        "mean_value_fen": num(row[6]),
        "replenishment_due": int(row[7] or 0),
        "repeat_buyers": int(row[8] or 0),
        "repeat_rate": (int(row[8] or 0) / buyers) if buyers else None,
        "net_spend_fen": num(row[10]),
        "category_cycles": [
            {
                "category_id": c[0],
                "category": c[1],
                "cycle_days": float(c[2]),
                "intervals": int(c[3]),
                "customers": int(c[4]),
            }
            for c in categories
        ],
    }
