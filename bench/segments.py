"""Segment counts and dashboard pages at a million customers.

    .venv/bin/python bench/segments.py                 # 1,000,000 customers, ~10,000,000 orders
    .venv/bin/python bench/segments.py --quick         # 100,000 customers, about a minute
    .venv/bin/python bench/segments.py --customers 300000

1. Generates customers and orders with bench/scoring.py's generator (BG/NBD purchase behaviour,
   refunds, cancellations, 30 categories) ending today, and adds what segments look at: city,
   gender, birthday, home store and clerk, first-seen time, opt-outs, platform of imported orders,
   SKU codes on lines (the SKUs the example rules name), consent per channel and tags. Writes them
   straight into the columnar snapshot as Arrow and scores them there with the real nightly
   scoring (so RFM groups, P(alive), CLV and replenishment are real).
2. Builds the segment index (with the dashboards' cubes) from the snapshot, timed.
3. Times `services.count()` for every example rule in docs/segments.md (read from the document, so
   the rules measured are the rules documented), for the whole brand and for one store manager:
   median and 90th percentile over repeated runs in one warm process, as a web worker serves them.
4. Times every dashboard page rendered through Django (URL routing, middleware, login session,
   template, figures as JSON) for an operator (12 months, all stores) and a store manager.

The last line is JSON: customers, orders, seconds_index, segment_count_ms (per rule),
segment_count_max_median_ms, dashboard_ms (per page), dashboard_max_median_ms, targets_met,
and the load average while it ran (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import scoring as scoring_bench  # noqa: E402  (the analytics bench's generator)

CITIES = ["上海", "北京", "杭州", "广州", "深圳", "成都", "南京", "苏州", "武汉", "重庆"]
STORES = 40
CLERKS_PER_STORE = 5
TAGS = 50
# SKUs per category id (1..30): the example rules name the serums and the cream
SERUMS, CREAM = ["SY-SER-30", "SY-SER-N50", "SY-SER-A30"], ["SY-CRM-50"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def setup_django(workdir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "siyu.settings"
    os.environ["SIYU_VAR_DIR"] = str(workdir / "var")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'main.sqlite3'}"
    os.environ.setdefault("SIYU_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def example_rules() -> dict[str, dict]:
    """The example rules as docs/segments.md shows them."""
    text = (ROOT / "docs" / "segments.md").read_text(encoding="utf-8")
    found = re.findall(r"^### `(\w+)`.*?\n```json\n(.*?)\n```", text, re.M | re.S)
    return {key: json.loads(body) for key, body in found}


# --- data -------------------------------------------------------------------------------------------


def enrich(tables: dict[str, pa.Table], seed: int, today: date) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed + 1)
    customers = tables["customers"]
    n = customers.num_rows
    store = rng.integers(1, STORES + 1, n)
    has_store = rng.random(n) < 0.45
    clerk = (store - 1) * CLERKS_PER_STORE + rng.integers(1, CLERKS_PER_STORE + 1, n) + 100
    window = scoring_bench.WINDOW_DAYS
    epoch = np.datetime64(today, "s") - np.timedelta64(window * 86400, "s")
    first_seen = epoch + (rng.uniform(0, window, n) * 86400).astype("timedelta64[s]")
    born = np.datetime64("1960-01-01") + rng.integers(0, 45 * 365, n).astype("timedelta64[D]")
    opted = rng.random(n) < 0.03
    extra = {
        "city": pa.array(np.array(CITIES)[rng.integers(0, len(CITIES), n)]),
        "province": pa.array(np.full(n, "")),
        "gender": pa.array(rng.choice(["f", "m", ""], n, p=[0.7, 0.2, 0.1])),
        "birthday": pa.array(born, mask=rng.random(n) < 0.4),
        "store_id": pa.array(store, mask=~has_store),
        "owner_kind": pa.array(np.where(has_store, "clerk", "")),
        "owner_user_id": pa.array(clerk, mask=~has_store),
        "first_seen_at": pa.array(first_seen.astype("datetime64[us]")),
        "opted_out_at": pa.array(first_seen.astype("datetime64[us]"), mask=~opted),
    }
    for name, column in extra.items():
        customers = customers.append_column(name, column)
    orders = tables["orders"]
    m = orders.num_rows
    platform = np.where(
        orders.column("channel").to_numpy(zero_copy_only=False) == "platform",
        rng.choice(["tmall", "jd", "douyin"], m, p=[0.6, 0.25, 0.15]),
        "",
    )
    orders = orders.append_column("platform", pa.array(platform))
    lines = tables["order_lines"]
    category = lines.column("category_id").to_numpy()
    pick = rng.integers(0, 6, lines.num_rows)
    skus = np.array([f"SKU-{c:02d}-{k}" for c in range(31) for k in range(6)]).reshape(31, 6)
    sku = skus[category, pick]
    sku = np.where(category == 5, np.array(SERUMS)[pick % 3], sku)
    sku = np.where(category == 8, CREAM[0], sku)
    lines = lines.append_column("external_sku", pa.array(sku))
    lines = lines.append_column("product_title", pa.array(sku))
    lines = lines.append_column("quantity", pa.array(np.ones(lines.num_rows, dtype=np.int64)))
    ids = np.arange(1, n + 1)
    parts = []
    for channel, share in (("sms", 0.5), ("wecom", 0.35), ("wechat_oa", 0.2)):
        who = ids[rng.random(n) < share]
        parts.append(
            pa.table(
                {
                    "customer_id": who,
                    "channel": pa.array(np.full(who.size, channel)),
                    "granted": rng.random(who.size) < 0.92,
                }
            )
        )
    consents = pa.concat_tables(parts)
    consents = consents.add_column(0, "id", pa.array(np.arange(1, consents.num_rows + 1)))
    k = int(n * 1.5)
    pairs = np.unique(
        np.stack([rng.integers(1, n + 1, k), rng.integers(1, TAGS + 1, k)], axis=1), axis=0
    )
    customer_tags = pa.table(
        {"id": np.arange(1, len(pairs) + 1), "customer_id": pairs[:, 0], "tag_id": pairs[:, 1]}
    )
    tags = pa.table(
        {
            "id": np.arange(1, TAGS + 1),
            "group_id": (np.arange(TAGS) // 10) + 1,
            "group_name": pa.array([f"group {i // 10 + 1}" for i in range(TAGS)]),
            "group_exclusive": np.zeros(TAGS, dtype=bool),
            "name": pa.array([f"tag {i + 1}" for i in range(TAGS)]),
        }
    )
    return {
        "customers": customers,
        "orders": orders,
        "order_lines": lines,
        "consents": consents,
        "customer_tags": customer_tags,
        "tags": tags,
    }


def load_and_score(tables: dict[str, pa.Table], today: date) -> dict:
    from siyu.analytics import snapshot
    from siyu.analytics.scoring import score_snapshot

    t0 = time.perf_counter()
    with snapshot.writer(rebuild=True) as con:
        for name, table in tables.items():
            con.register("_in", table)
            cols = ", ".join(table.column_names)
            con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _in")
            con.unregister("_in")
        con.execute(
            "INSERT INTO _sync SELECT name, '0', 0, now(), 0 FROM (VALUES ('customers'), "
            "('orders'), ('order_lines'), ('tags'), ('customer_tags'), ('consents')) t(name)"
        )
        loaded = time.perf_counter() - t0
        t1 = time.perf_counter()
        result = score_snapshot(con, today)
        scored = time.perf_counter() - t1
    return {"seconds_load": loaded, "seconds_scoring": scored, "buyers": result.buyers}


def staff() -> None:
    """Stores, an operator and a store manager in the main database (dashboards need logins)."""
    from django.core.management import call_command

    from siyu.core.access import Role
    from siyu.staff.models import Store, User

    call_command("migrate", verbosity=0)
    Store.objects.bulk_create(
        [
            Store(id=i, code=f"S{i:03d}", name=f"门店{i}", city=CITIES[i % 10])
            for i in range(1, STORES + 1)
        ]
    )
    User.objects.create_user("operator", password="bench-password-1", role=Role.OPERATOR)
    User.objects.create_user(
        "manager", password="bench-password-1", role=Role.STORE_MANAGER, store_id=1
    )


# --- timing -----------------------------------------------------------------------------------------


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm: the process's connection to the index and the query plans
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(0.9 * (len(samples) - 1))] * 1000


def bench_counts(runs: int) -> dict:
    from siyu.core.access import Actor
    from siyu.segments import services
    from siyu.segments.rules import parse_rule
    from siyu.staff.models import User

    brand = Actor.system("bench")
    manager = Actor.for_user(User.objects.get(username="manager"))
    out: dict = {}
    for key, raw in example_rules().items():
        node = parse_rule(raw)
        n = services.count(brand, node).count
        median, p90 = timed(lambda node=node: services.count(brand, node), runs)
        m_median, _ = timed(lambda node=node: services.count(manager, node), runs)
        out[key] = {
            "members": n,
            "median_ms": round(median, 1),
            "p90_ms": round(p90, 1),
            "store_manager_median_ms": round(m_median, 1),
        }
        log(f"count {key}: {n:,} customers, median {median:.0f} ms, p90 {p90:.0f} ms")
    return out


def bench_dashboards(runs: int) -> dict:
    from django.test import Client

    out: dict = {}
    for username in ("operator", "manager"):
        client = Client()
        assert client.login(username=username, password="bench-password-1")
        for page in ("", "cohorts/", "channels/", "products/"):
            url = f"/console/dashboards/{page}"

            def get(url=url, client=client):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            median, p90 = timed(get, runs)
            name = f"{username}:{page.rstrip('/') or 'overview'}"
            out[name] = {"median_ms": round(median, 1), "p90_ms": round(p90, 1)}
            log(f"dashboard {name}: median {median:.0f} ms, p90 {p90:.0f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 customers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per rule and page")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data in this directory")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse data made before")
    args = parser.parse_args()
    n = 100_000 if args.quick else args.customers
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="siyu-bench-seg-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        setup_django(workdir)
        from django.utils import timezone

        from siyu.segments import index

        today = timezone.localdate()
        scoring_bench.AS_OF = today  # the generated history ends today
        from siyu.analytics import snapshot

        if args.reuse and snapshot.snapshot_path().exists():
            # --keep DIR --reuse: time the index and the reads again on data made earlier
            con = snapshot.connect()
            sizes = dict(
                con.execute(
                    "SELECT 'customers', count(*) FROM customers UNION ALL "
                    "SELECT 'orders', count(*) FROM orders UNION ALL "
                    "SELECT 'order_lines', count(*) FROM order_lines"
                ).fetchall()
            )
            con.close()
            n = sizes["customers"]
            loaded = {"seconds_scoring": float("nan")}
        else:
            staff()  # the main database first: snapshot events queue tasks there
            t0 = time.perf_counter()
            tables = enrich(scoring_bench.generate(n, args.seed), args.seed, today)
            sizes = {name: t.num_rows for name, t in tables.items()}
            log(f"generated in {time.perf_counter() - t0:.1f}s: {sizes}")
            loaded = load_and_score(tables, today)
            del tables
            log(
                f"snapshot loaded in {loaded['seconds_load']:.1f}s, scored in {loaded['seconds_scoring']:.1f}s"
            )
        # a reused directory keeps its index when it already matches the snapshot
        report = index.build(force=not args.reuse)
        log(f"segment index built in {report.seconds:.1f}s: {report.steps}")
        counts = bench_counts(args.runs)
        dashboards = bench_dashboards(max(5, args.runs // 2))
    worst_count = max(v["median_ms"] for v in counts.values())
    worst_page = max(v["median_ms"] for v in dashboards.values())
    result = {
        "customers": n,
        "orders": sizes["orders"],
        "order_lines": sizes["order_lines"],
        "seconds_scoring": round(loaded["seconds_scoring"], 1),
        "seconds_index": round(report.seconds, 1) if report.built else None,
        "index_steps": report.steps,
        "segment_count_ms": counts,
        "segment_count_max_median_ms": worst_count,
        "dashboard_ms": dashboards,
        "dashboard_max_median_ms": worst_page,
        "targets_met": {
            "segment_count_median_under_300ms": worst_count < 300,
            "dashboard_median_under_500ms": worst_page < 500,
        },
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 1) for x in load_before],
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
