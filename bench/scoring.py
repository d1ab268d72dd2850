"""Nightly scoring at scale, side by side with `lifetimes` + pandas.

    .venv/bin/python bench/scoring.py                  # 1,000,000 customers, ~10,000,000 orders
    .venv/bin/python bench/scoring.py --quick          # 100,000 customers, about a minute
    .venv/bin/python bench/scoring.py --customers 300000

1. Generates customers that follow the BG/NBD story (purchase rates ~ Gamma, drop-out after each
   purchase ~ Beta, spend ~ Gamma-Gamma) over three years, with same-day double orders, cancelled
   and refunded orders, unknown costs (imported orders), 30 categories with their own cycles,
   referrals and pool membership; writes them straight into the columnar snapshot as Arrow, and
   the customers into a fresh main database (PostgreSQL when reachable, else SQLite).
2. In a fresh process, times `run_scoring()` exactly as the nightly job runs it: an incremental
   snapshot refresh (1% of customers changed), RFM, user value, BG/NBD + Gamma-Gamma fit and
   predictions, repurchase cycles, lifecycle, and the bulk write of every score row.
3. In another fresh process, loads the purchases once into memory (Arrow for siyu, the same rows
   as a pandas DataFrame for lifetimes; not timed) and times the same CLV pipeline on both sides:
   summary, BG/NBD fit, Gamma-Gamma fit, P(alive), expected purchases for 90 and 365 days,
   expected spend, CLV. siyu runs before and after lifetimes (the mean counts); then both models
   alone on lifetimes' own summary table, and a plain pandas RFM. docs/analytics.md, "Speed".

The last line is JSON: seconds_total (whole nightly scoring), timings, peak_rss_mb (nightly
process), seconds_bgnbd_pipeline (ours, from transactions), seconds_lifetimes,
speedup_vs_lifetimes, speedup_models_only, max_relative_param_diff, load averages, targets_met.
Set OPENBLAS_CORETYPE only if the machine needs it (see docs/analytics.md, "Benchmarking").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
WINDOW_DAYS = 3 * 365
AS_OF = date(2026, 6, 30)
N_CATEGORIES = 30


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: on Linux ru_maxrss
    survives fork + exec, so a phase started by the parent that generated gigabytes of test data
    would report the parent's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/siyu_bench_scoring"


def choose_database(requested: str | None, workdir: Path) -> str:
    """A fresh PostgreSQL database when one is reachable (how a brand with a million customers
    runs siyu), else an SQLite file."""
    url = requested or PG_DEFAULT
    if url.startswith("postgres"):
        try:
            import psycopg

            base, name = url.rsplit("/", 1)
            with psycopg.connect(base + "/postgres", autocommit=True, connect_timeout=3) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}"')
                c.execute(f'CREATE DATABASE "{name}"')
            return url
        except Exception as exc:
            if requested:
                raise
            log(f"PostgreSQL not reachable ({exc}); using SQLite")
    return f"sqlite:///{workdir / 'main.sqlite3'}"


def setup_django(workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "siyu.settings"
    os.environ["SIYU_VAR_DIR"] = str(workdir / "var")
    os.environ["DATABASE_URL"] = os.environ["SIYU_BENCH_DATABASE_URL"]
    os.environ.setdefault("SIYU_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


# --- data -------------------------------------------------------------------------------------------


def generate(n: int, seed: int) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    buyers = int(n * 0.8)  # the rest are known but never bought (aware / related / interested)
    # BG/NBD story, time in days: rates ~ Gamma(r, 1/alpha), drop-out p ~ Beta(a, b)
    lam = rng.gamma(0.9, 1 / 17.0, buyers)
    p = rng.beta(0.6, 4.0, buyers)
    start = rng.uniform(0, WINDOW_DAYS, buyers)
    repeats = np.minimum(rng.geometric(np.clip(p, 1e-4, 1)) - 1, 400)
    total = int(repeats.sum())
    owner = np.repeat(np.arange(buyers), repeats)
    gaps = rng.exponential(1.0, total) / lam[owner]
    offsets = np.cumsum(repeats) - repeats
    cum = np.cumsum(gaps)
    cum -= np.repeat(cum[offsets] - gaps[offsets], repeats)
    times = start[owner] + cum
    keep = times < WINDOW_DAYS
    owner, times = owner[keep], times[keep]
    cust_idx = np.concatenate([np.arange(buyers), owner])
    day_offset = np.concatenate([start, times])
    # 8% of purchase occasions have a second order the same day
    extra = rng.random(cust_idx.size) < 0.08
    cust_idx = np.concatenate([cust_idx, cust_idx[extra]])
    day_offset = np.concatenate([day_offset, day_offset[extra] + 0.01])
    order = np.argsort(day_offset, kind="stable")
    cust_idx, day_offset = cust_idx[order], day_offset[order]
    m = cust_idx.size
    log(f"generated {m:,} orders for {buyers:,} buyers (+{n - buyers:,} without orders)")

    # spend: Gamma-Gamma (shape 4 per purchase, customer scale ~ Gamma(3, 30 yuan))
    nu = rng.gamma(3.0, 1 / 30.0, buyers)
    paid = np.round(rng.gamma(4.0, 1.0, m) / nu[cust_idx] * 100).astype(np.int64) + 100
    cost = np.where(rng.random(m) < 0.8, (paid * rng.uniform(0.5, 0.7, m)).astype(np.int64), 0)
    status = np.full(m, "completed", dtype=object)
    u = rng.random(m)
    status[u < 0.03] = "cancelled"
    status[(u >= 0.03) & (u < 0.05)] = "refunded"
    refunded = np.where(status == "refunded", paid, 0)
    partial = (u >= 0.05) & (u < 0.08)
    refunded[partial] = paid[partial] // 3
    epoch = np.datetime64(AS_OF, "s") - np.timedelta64(WINDOW_DAYS * 86400, "s")
    placed = epoch + (day_offset * 86400).astype("timedelta64[s]")
    paid_at = placed.copy()
    paid_at_null = status == "cancelled"
    ids = np.arange(1, m + 1, dtype=np.int64)
    customer_ids = np.arange(1, n + 1, dtype=np.int64)
    orders = pa.table(
        {
            "id": ids,
            "customer_id": cust_idx.astype(np.int64) + 1,
            "channel": pa.array(np.where(u < 0.3, "platform", "mall")),
            "status": pa.array(status.astype(str)),
            "paid_fen": np.where(paid_at_null, 0, paid),
            "refunded_fen": refunded,
            "cost_fen": cost,
            "placed_at": pa.array(placed.astype("datetime64[us]")),
            "paid_at": pa.array(placed.astype("datetime64[us]"), mask=paid_at_null),
            "updated_at": pa.array(paid_at.astype("datetime64[us]")),
        }
    )
    # lines: one per order, 30% get a second; categories from 1-3 favourites per customer
    fav = rng.integers(0, N_CATEGORIES, (buyers, 3))
    second = rng.random(m) < 0.3
    line_order = np.concatenate([ids, ids[second]])
    line_cust = np.concatenate([cust_idx, cust_idx[second]])
    cat = fav[line_cust, rng.integers(0, 3, line_cust.size)] + 1
    line_paid = np.concatenate([paid, paid[second] // 2])
    lines = pa.table(
        {
            "id": np.arange(1, line_order.size + 1, dtype=np.int64),
            "order_id": line_order,
            "line_no": np.concatenate([np.ones(m), np.full(second.sum(), 2)]).astype(np.int64),
            "paid_fen": line_paid,
            "refunded_fen": np.zeros(line_order.size, dtype=np.int64),
            "category_id": cat.astype(np.int64),
            "category_name": pa.array([f"category {i}" for i in range(N_CATEGORIES + 1)]).take(
                pa.array(cat)
            ),
            "order_updated_at": pa.array(paid_at.astype("datetime64[us]")).take(
                pa.array(line_order - 1)
            ),
        }
    )
    referred = np.where(
        rng.random(n) < 0.1, np.maximum(1, (rng.random(n) * customer_ids).astype(np.int64)), 0
    )
    customers = pa.table(
        {
            "id": customer_ids,
            "referred_by_id": pa.array(referred, mask=(referred == 0) | (referred >= customer_ids)),
            "source": pa.array(rng.choice(["tmall", "jd", "store", "mall", "referral"], n)),
            "in_pool": rng.random(n) < 0.6,
            "created_at": pa.array(np.full(n, epoch).astype("datetime64[us]")),
            "updated_at": pa.array(np.full(n, epoch).astype("datetime64[us]")),
        }
    )
    return {"customers": customers, "orders": orders, "order_lines": lines}


def load(tables: dict[str, pa.Table], workdir: Path) -> None:
    """Snapshot as the refresh would have left it; customers also in the main database."""
    from django.core.management import call_command

    from siyu.analytics import snapshot

    call_command("migrate", verbosity=0)
    with snapshot.writer(rebuild=True) as con:
        for name, table in tables.items():
            con.register("_in", table)
            cols = ", ".join(table.column_names)
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _in")
            con.unregister("_in")
        top = con.execute("SELECT max(updated_at) FROM customers").fetchall()[0][0]
        for name, mark in (
            ("customers", top),
            ("orders", con.execute("SELECT max(updated_at) FROM orders").fetchall()[0][0]),
            ("order_lines", top),
        ):
            con.execute(
                "INSERT OR REPLACE INTO _sync VALUES (?, ?, 0, now(), 0)",
                [name, mark.isoformat(sep=" ")],
            )
        for name in ("customer_tags",):
            con.execute("INSERT OR REPLACE INTO _sync VALUES (?, '0', 0, now(), 0)", [name])
    # the main database's customers (the score rows reference them); 1% changed since
    c = tables["customers"]
    n = c.num_rows
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    settings_dict = dict(connection.settings_dict)
    connection.close()  # the bulk load below uses its own connection
    changed = np.random.default_rng(1).random(n) < 0.01
    if postgres:
        stamp = pa.timestamp("us", tz="UTC")
        old = pa.scalar(datetime(2023, 6, 30), type=stamp)
        now = pa.scalar(datetime.utcnow(), type=stamp)
    else:
        now = datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S")
        old = "2023-06-30 00:00:00"
    given = {
        "id": c.column("id"),
        "source": c.column("source"),
        "in_pool": c.column("in_pool"),
        "referred_by_id": c.column("referred_by_id"),
        "created_at": pa.array([old] * n),
        "first_seen_at": pa.array([old] * n),
        "updated_at": pa.array([now if c else old for c in changed]),
    }
    main = pa.table(given | _required_defaults(set(given), n, old))
    if postgres:
        import adbc_driver_postgresql.dbapi as adbc

        from siyu.analytics.source import postgres_uri

        target = postgres_uri(settings_dict)
    else:
        import adbc_driver_sqlite.dbapi as adbc

        target = str(workdir / "main.sqlite3")
    with adbc.connect(target) as db, db.cursor() as cur:
        cur.adbc_ingest("customers_customer", main, mode="append")
        db.commit()
    log(f"main database: {n:,} customers ({int(changed.sum()):,} changed since the snapshot)")


def _required_defaults(given: set[str], n: int, old: str) -> dict:
    """Blank values for the Customer model's other NOT NULL columns (the model grows over time)."""
    from django.db import models

    from siyu.customers.models import Customer

    out = {}
    for f in Customer._meta.concrete_fields:
        if f.column in given or f.null:
            continue
        if isinstance(f, models.BooleanField):
            out[f.column] = pa.array(np.zeros(n, dtype=bool))
        elif isinstance(f, (models.IntegerField, models.BigIntegerField)):
            out[f.column] = pa.array(np.zeros(n, dtype=np.int64))
        elif isinstance(f, (models.DateTimeField, models.DateField)):
            out[f.column] = pa.array([old] * n)  # old is text (SQLite) or a UTC timestamp
        else:
            out[f.column] = pa.array([""] * n)
    return out


# --- phases -----------------------------------------------------------------------------------------


def phase_score(workdir: Path) -> dict:
    setup_django(workdir)
    # a worker imports these once at start; do it before the clock starts, as the worker would
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import adbc_driver_sqlite.dbapi  # noqa: F401
    import scipy.optimize  # noqa: F401

    from siyu.analytics.services import run_scoring
    from siyu.core.access import Actor

    t0 = time.perf_counter()
    run = run_scoring(actor=Actor.system("bench"), as_of=AS_OF, trigger="bench")
    seconds = time.perf_counter() - t0
    from siyu.analytics.models import CustomerScore

    assert CustomerScore.objects.count() == run.customers, "every customer's score is stored"
    timings = run.figures["timings"]
    return {
        "seconds_total": seconds,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "timings": timings,
        "customers": run.customers,
        "buyers": run.buyers,
        "bgnbd": run.parameters["bgnbd"],
        "gamma_gamma": run.parameters["gamma_gamma"],
        "rfm_groups": run.figures["rfm_groups"],
        "lifecycle": run.figures["lifecycle"],
        "peak_rss_mb": peak_rss_mb(),
    }


def load_transactions(workdir: Path):
    """The input both CLV pipelines start from, in memory and not timed: one row per purchase
    (customer, day, amount in yuan) of the customers the nightly run scores, as an Arrow table."""
    setup_django(workdir)
    from siyu.analytics import snapshot

    con = snapshot.connect()
    try:
        return con.execute(
            "SELECT customer_id AS customer, day, net_fen / 100.0 AS amount FROM purchases "
            "WHERE day <= ?::DATE AND customer_id IN "
            "(SELECT id FROM customers WHERE merged_into_id IS NULL AND erased_at IS NULL)",
            [AS_OF],
        ).to_arrow_table()
    finally:
        con.close()


HORIZONS = (90, 365)


def ours_from_transactions(tx: pa.Table) -> tuple[dict, dict, object]:
    """siyu: the summary of the in-memory Arrow table (`summary.summarise_arrow`), then
    `clv.fit_and_predict` (both fits, P(alive), expected purchases for 90 and 365 days, expected
    spend, CLV)."""
    from siyu.analytics import clv
    from siyu.analytics.summary import summarise_arrow

    t0 = time.perf_counter()
    summary = summarise_arrow(tx, calibration_end=AS_OF, unit="day")
    t1 = time.perf_counter()
    value = clv.fit_and_predict(
        summary.frequency, summary.recency, summary.T, summary.monetary, horizons=HORIZONS
    )
    t2 = time.perf_counter()
    assert np.isfinite(value.p_alive).all() and np.isfinite(value.value[365]).any()
    timings = {"summary": t1 - t0, "models": t2 - t1, "total": t2 - t0} | {
        f"models.{k}": v for k, v in value.timings.items()
    }
    params = value.bgnbd.as_dict() | value.gamma_gamma.as_dict()
    return timings, {k: params[k] for k in ("r", "alpha", "a", "b", "p", "q", "gamma")}, summary


def lifetimes_from_transactions(tx_pd) -> tuple[dict, dict, object]:
    """lifetimes 0.11: the same steps on the same purchases, as a pandas DataFrame."""
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    t0 = time.perf_counter()
    summary = summary_data_from_transaction_data(
        tx_pd, "customer", "day", monetary_value_col="amount",
        observation_period_end=pd.Timestamp(AS_OF), freq="D",
    )  # fmt: skip
    t1 = time.perf_counter()
    f, r, T = summary["frequency"], summary["recency"], summary["T"]
    bgf = BetaGeoFitter().fit(f, r, T)
    t2 = time.perf_counter()
    repeat = summary[(f > 0) & (summary["monetary_value"] > 0)]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    t3 = time.perf_counter()
    alive = bgf.conditional_probability_alive(f, r, T)
    spend = ggf.conditional_expected_average_profit(f, summary["monetary_value"])
    clv = {
        h: bgf.conditional_expected_number_of_purchases_up_to_time(h, f, r, T) * spend
        for h in HORIZONS
    }
    t4 = time.perf_counter()
    assert np.isfinite(np.asarray(alive)).all() and np.isfinite(np.asarray(clv[365])).any()
    timings = {
        "summary": t1 - t0, "bgnbd_fit": t2 - t1, "gamma_gamma_fit": t3 - t2, "predict": t4 - t3,
        "models": t4 - t1, "total": t4 - t0,
    }  # fmt: skip
    params = dict(bgf.params_) | {
        "p": ggf.params_["p"], "q": ggf.params_["q"], "gamma": ggf.params_["v"],
    }  # fmt: skip
    return timings, {k: float(v) for k, v in params.items()}, summary


def phase_compare(workdir: Path) -> dict:
    """The BG/NBD + Gamma-Gamma pipeline, siyu against lifetimes, from the same in-memory
    transactions and through the same steps; siyu runs before and after lifetimes (the machine's
    load drifts) and its mean counts. Then both models alone on lifetimes' own summary table."""
    import warnings

    import pandas as pd

    warnings.filterwarnings("ignore")
    import lifetimes  # noqa: F401  (import cost is not part of either pipeline)
    import scipy.optimize  # noqa: F401

    from siyu.analytics import clv

    tx = load_transactions(workdir)
    tx_pd = tx.to_pandas(date_as_object=False)  # day as datetime64, as lifetimes wants it
    log(f"compare: {tx.num_rows:,} purchases in memory (Arrow for siyu, pandas for lifetimes)")
    load_before = os.getloadavg()
    ours_1, ours_params, _ = ours_from_transactions(tx)
    log(f"siyu pipeline: {ours_1['total']:.2f}s")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # as siyu's fits run: fair to lifetimes
        ref, ref_params, ref_summary = lifetimes_from_transactions(tx_pd)
    log(f"lifetimes pipeline: {ref['total']:.2f}s")
    ours_2, _, _ = ours_from_transactions(tx)
    log(f"siyu pipeline again: {ours_2['total']:.2f}s")
    ours = {k: (ours_1[k] + ours_2[k]) / 2 for k in ours_1}
    # models only, both from lifetimes' summary table (same x, t_x, T and m to the bit)
    f = ref_summary["frequency"].to_numpy(np.float64)
    m = np.where(f > 0, ref_summary["monetary_value"].to_numpy(np.float64), np.nan)
    t0 = time.perf_counter()
    value = clv.fit_and_predict(
        f, ref_summary["recency"].to_numpy(np.float64), ref_summary["T"].to_numpy(np.float64), m,
        horizons=HORIZONS,
    )  # fmt: skip
    models_from_summary = time.perf_counter() - t0
    assert value.bgnbd is not None and value.gamma_gamma is not None
    # plain pandas RFM on the same purchases: recency, frequency, monetary and quintile scores
    t0 = time.perf_counter()
    g = tx_pd.groupby("customer").agg(
        last=("day", "max"), orders=("day", "size"), spend=("amount", "sum")
    )
    g["recency"] = (pd.Timestamp(AS_OF) - g["last"]).dt.days
    for col, asc in (("recency", False), ("orders", True), ("spend", True)):
        ranks = g[col].rank(method="min", ascending=asc)
        g[col[0] + "_score"] = 1 + np.floor(5 * (ranks - 1) / len(g)).astype(int)
    pandas_rfm = time.perf_counter() - t0
    return {
        "purchases": tx.num_rows,
        "ours": ours,
        "ours_runs": [ours_1["total"], ours_2["total"]],
        "ours_params": ours_params,
        "lifetimes": ref,
        "lifetimes_params": ref_params,
        "ours_models_from_lifetimes_summary": models_from_summary,
        "seconds_pandas_rfm": pandas_rfm,
        "load_average": [round(v, 2) for v in load_before + os.getloadavg()],
        "peak_rss_mb": peak_rss_mb(),
    }


def run_phase(name: str, workdir: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"phase {name} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 customers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SIYU_BENCH_DATABASE_URL"),
        help=f"main database (default: a fresh {PG_DEFAULT} if reachable, else SQLite)",
    )
    parser.add_argument("--phase", choices=["score", "compare"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        result = phase_score(args.workdir) if args.phase == "score" else phase_compare(args.workdir)
        print(json.dumps(result, default=str))
        return
    n = 100_000 if args.quick else args.customers
    with tempfile.TemporaryDirectory(prefix="siyu-bench-") as tmp:
        workdir = Path(tmp)
        os.environ["SIYU_BENCH_DATABASE_URL"] = choose_database(args.database_url, workdir)
        setup_django(workdir)
        t0 = time.perf_counter()
        tables = generate(n, args.seed)
        orders = tables["orders"].num_rows
        load(tables, workdir)
        del tables
        log(f"data ready in {time.perf_counter() - t0:.1f}s; timing the nightly scoring")
        ours = run_phase("score", workdir)
        log(f"nightly scoring: {ours['seconds_total']:.1f}s {ours['timings']}")
        result = {
            "database": os.environ["SIYU_BENCH_DATABASE_URL"].split(":", 1)[0],
            "customers": n,
            "orders": orders,
            "seconds_total": round(ours["seconds_total"], 2),
            "timings": ours["timings"],
            "peak_rss_mb": round(ours["peak_rss_mb"]),
            "load_average_after_nightly": ours["load_average"],
            "bgnbd": {k: ours["bgnbd"][k] for k in ("r", "alpha", "a", "b")},
            "gamma_gamma": {k: ours["gamma_gamma"][k] for k in ("p", "q", "gamma")},
            "lifecycle": ours["lifecycle"],
            "rfm_groups": ours["rfm_groups"],
        }
        if not args.skip_lifetimes:
            log("timing siyu's and lifetimes' CLV pipelines on the same purchases")
            cmp = run_phase("compare", workdir)
            mine, theirs = cmp["ours_params"], cmp["lifetimes_params"]
            nightly = result["bgnbd"] | result["gamma_gamma"]

            def rel(a: dict) -> dict:
                return {k: abs(a[k] - theirs[k]) / abs(theirs[k]) for k in theirs}

            diffs = rel(mine)
            seconds_ours = cmp["ours"]["total"]
            seconds_ref = cmp["lifetimes"]["total"]
            result |= {
                "purchases": cmp["purchases"],
                "seconds_bgnbd_pipeline": round(seconds_ours, 3),
                "bgnbd_pipeline_runs": [round(v, 3) for v in cmp["ours_runs"]],
                "bgnbd_pipeline_timings": {k: round(v, 3) for k, v in cmp["ours"].items()},
                "seconds_lifetimes": round(seconds_ref, 2),
                "lifetimes_timings": {k: round(v, 3) for k, v in cmp["lifetimes"].items()},
                "speedup_vs_lifetimes": round(seconds_ref / seconds_ours, 1),
                "speedup_models_only": round(
                    cmp["lifetimes"]["models"] / cmp["ours_models_from_lifetimes_summary"], 1
                ),
                "seconds_models_from_lifetimes_summary": round(
                    cmp["ours_models_from_lifetimes_summary"], 3
                ),
                "seconds_pandas_rfm": round(cmp["seconds_pandas_rfm"], 2),
                "lifetimes_params": theirs,
                "relative_param_diff": diffs,
                "max_relative_param_diff": max(diffs.values()),
                "max_relative_param_diff_nightly": max(rel(nightly).values()),
                "compare_peak_rss_mb": round(cmp["peak_rss_mb"]),
                "load_average_compare": cmp["load_average"],
            }
        result["targets_met"] = {
            "seconds_total_under_60": result["seconds_total"] < 60,
            "peak_rss_under_4gb": result["peak_rss_mb"] < 4096,
        }
        if "speedup_vs_lifetimes" in result:
            result["targets_met"] |= {
                "speedup_at_least_10x": result["speedup_vs_lifetimes"] >= 10,
                "params_equal_to_4_significant_digits": result["max_relative_param_diff"] < 5e-5,
            }
        print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
