"""Checkout load: shoppers racing for one hot SKU through the HTTP API, against its SQL ceiling.

    .venv/bin/python bench/checkout_load.py             # full run: 3,000 units, 16 clients
    .venv/bin/python bench/checkout_load.py --quick     # about a minute: 600 units
    options: --clients N, --workers N, --orders N (units of stock = orders sold),
             --ceiling-seconds S, --pg-url postgres://.../name, --profile K, --keep

What runs, on a fresh PostgreSQL database (`siyu migrate`):

1. Setup, in bulk: one on-shelf SKU with `--orders` units at one warehouse, one shopper per
   concurrent client slot many times over (customers + shopper sessions written straight into the
   session table, as a login would leave them) and a CSRF secret per client.
2. Queries per order: one checkout + pay through Django's test client in this process, counting the
   SQL statements of each step (place, pay, the provider's notification).
3. The server, as in production: gunicorn (`siyu.wsgi`, sync workers, `--workers`), SIYU_ENV=production,
   the database task queue, the dev payment provider allowed, access log to a file.
4. Load: `--clients` concurrent shoppers (threads spread over client processes), each in a loop:
   `POST /api/v1/orders/shop/orders` (Idempotency-Key, one unit of the hot SKU, delivery address),
   `POST /api/v1/payments/orders/{id}/pay` (H5), then the dev provider does what WeChat Pay does when
   the shopper pays on its page: its trade succeeds and it POSTs the signed, AES-256-GCM encrypted
   TRANSACTION.SUCCESS notification to `/m/payments/notify/dev/` (devpay.pay and devpay.deliver,
   run in the client process, which plays the provider). An order counts when the notification
   is answered 204. A client stops when placing answers 409 out_of_stock.
5. Ceiling, in the same run and at the same concurrency (same processes and threads), before and
   after the load (averaged): the SQL an order needs and nothing else, by a minimal psycopg client —
   BEGIN; INSERT order; INSERT line; conditional UPDATE of the stock row; COMMIT; BEGIN; INSERT
   payment; UPDATE order to paid; COMMIT — into the same tables, with the same indexes and
   constraints, on a SKU of its own.
6. Checks: oversold = units in live orders beyond the initial stock (and the stock row's
   available units, watched during the run, never below zero); lost_paid = trades the provider
   says succeeded whose order is not paid by that payment, plus paid orders without a succeeded,
   applied payment.

`--profile K` also runs K checkouts in this process under cProfile before the load and prints
where the time goes (by layer, and the top functions) to stderr.

The last line is JSON: orders_per_s, p50_ms, p99_ms (whole order: place + pay + notification),
oversold, lost_paid, ceiling_orders_per_s, ratio_to_ceiling, clients, workers, orders, and more.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

# A deployed server runs from bytecode; compile once here (this environment may disable it) so
# workers and clients do not recompile every module they import.
sys.dont_write_bytecode = False
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DEFAULT_PG = os.environ.get(
    "SIYU_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/siyu_loadbench_bench"
)
ADDRESS = {
    "name": "林小姐",
    "phone": "13812345678",
    "province": "上海市",
    "city": "上海市",
    "district": "静安区",
    "detail": "南京西路1515号 12楼",
}
SHOPPERS_PER_CLIENT = 20


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


# --- environment ------------------------------------------------------------------------------------


def bench_env(workdir: Path, pg_url: str, port: int) -> dict[str, str]:
    """One environment for the server, the clients and this process: same keys, same database."""
    secrets_file = workdir / "secrets.json"
    if not secrets_file.exists():
        secrets_file.write_text(
            json.dumps({"SECRET_KEY": secrets.token_urlsafe(50), "DATA": secrets.token_urlsafe(32)})
        )
    keys = json.loads(secrets_file.read_text())
    return {
        "DATABASE_URL": pg_url,
        "SIYU_VAR_DIR": str(workdir / "var"),
        "SIYU_ENV": "production",
        "SECRET_KEY": keys["SECRET_KEY"],
        "SIYU_DATA_KEY": keys["DATA"],
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SIYU_SECURE_COOKIES": "0",
        "SIYU_DEV_PAY_ALLOWED": "1",
        "SIYU_PAYMENT_PROVIDER": "dev",
        "SIYU_DEV_PAY_NOTIFY_URL": f"http://127.0.0.1:{port}/m/payments/notify/dev/",
        "SIYU_LOG_LEVEL": "WARNING",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "siyu.settings",
        "PYTHONDONTWRITEBYTECODE": "",
    }


def setup_django(env: dict[str, str], *, tasks_backend: str | None = None) -> None:
    os.environ.update(env)
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    from django.conf import settings

    if tasks_backend:
        # set before anything touches the task backends (they are built lazily)
        settings.TASKS = {"default": {"BACKEND": tasks_backend}}
    import django

    django.setup()


def fresh_database(pg_url: str) -> None:
    import psycopg

    base, name = pg_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(pg_url: str) -> None:
    import psycopg

    if "django.db" in sys.modules:  # this process's own connections go first
        sys.modules["django.db"].connections.close_all()
    base, name = pg_url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- setup ------------------------------------------------------------------------------------------


def build_world(orders: int, shoppers: int) -> dict:
    """The hot SKU, a probe SKU (query counting, profiling), the ceiling's SKU, and shoppers with
    sessions. Everything in bulk."""
    from datetime import timedelta

    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from siyu.catalog.models import (
        Category,
        Fulfilment,
        Location,
        LocationKind,
        Product,
        ProductStatus,
        Sku,
        StockLevel,
    )
    from siyu.customers.models import Customer
    from siyu.mall.sessions import CUSTOMER_KEY

    warehouse = Location.objects.create(
        code="WH-BENCH", name="压测仓", kind=LocationKind.WAREHOUSE, ships_online=True, priority=0
    )
    category = Category.objects.create(name="精华")

    def sku(title: str, code: str, stock: int) -> int:
        product = Product.objects.create(
            title=title, category=category, spec_names=["规格"], status=ProductStatus.ON_SHELF
        )
        s = Sku.objects.create(
            product=product,
            code=code,
            spec_values={"规格": "30ml"},
            price_fen=19900,
            list_price_fen=25900,
            cost_fen=6000,
            weight_g=120,
            fulfilment=Fulfilment.STOCKED,
        )
        StockLevel.objects.create(sku=s, location=warehouse, on_hand=stock)
        return s.pk

    hot = sku("玻尿酸保湿精华 限量", "HOT-001", orders)
    probe = sku("玻尿酸保湿精华 试用", "PROBE-001", 10_000)
    ceiling = sku("玻尿酸保湿精华 基准", "CEIL-001", 2_000_000_000)

    customers = Customer.objects.bulk_create(
        [Customer(name=f"压测买家{i}", source="mall") for i in range(shoppers + 1)]
    )
    now = timezone.now()
    expire = now + timedelta(seconds=settings.SIYU_SHOPPER_SESSION_AGE)
    store = SessionStore()
    rows, sessions = [], []
    for c in customers:
        key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
        data = {CUSTOMER_KEY: c.pk, "login_method": "sms", "login_at": now.isoformat()}
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        sessions.append((c.pk, key))
    Session.objects.bulk_create(rows, batch_size=2000)
    return {
        "hot_sku": hot,
        "probe_sku": probe,
        "ceiling_sku": ceiling,
        "location": warehouse.pk,
        "probe_shopper": sessions[0],
        "shoppers": sessions[1:],
    }


# --- one checkout in this process: query counts and profile ----------------------------------------


class InProcessShopper:
    """A shopper driving the real URLs through Django's test client (same middleware, same
    views), with the dev provider's notification delivered to the notify endpoint."""

    def __init__(self, session_key: str):
        from django.conf import settings
        from django.test import Client

        self.csrf = secrets.token_hex(16)
        self.client = Client()
        self.provider = Client()  # the provider's requests carry no shopper cookies
        self.client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE] = session_key
        self.client.cookies[settings.CSRF_COOKIE_NAME] = self.csrf

    def place(self, sku_id: int):
        return self.client.post(
            "/api/v1/orders/shop/orders",
            data=json.dumps({"items": [{"sku_id": sku_id, "quantity": 1}], "address": ADDRESS}),
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex, "X-CSRFToken": self.csrf},
        )

    def pay(self, order_id: int):
        return self.client.post(
            f"/api/v1/payments/orders/{order_id}/pay",
            data=json.dumps({"method": "h5"}),
            content_type="application/json",
            headers={"X-CSRFToken": self.csrf},
        )

    def notify(self, signed: tuple[dict, str]):
        """Deliver a signed notification as the provider does: its own client, no cookies."""
        headers, body = signed
        return self.provider.post(
            "/m/payments/notify/dev/",
            data=body.encode(),
            content_type="application/json",
            headers=headers,
        )


def provider_pays(prepay_id: str) -> tuple[dict, str]:
    """WeChat's side: the shopper confirms on the cashier; returns the signed notification owed
    (headers, body)."""
    from siyu.payments import devpay
    from siyu.payments.models import DevNotification

    devpay.pay(prepay_id)
    trade = devpay.trade_for_prepay(prepay_id)
    note = DevNotification.objects.get(resource__out_trade_no=trade.out_trade_no)
    return devpay.signed_notification(note)


def prepay_of(pay_json: dict) -> str:
    from urllib.parse import parse_qs, urlsplit

    url = pay_json.get("h5_url") or pay_json.get("redirect_url") or ""
    return parse_qs(urlsplit(url).query)["prepay_id"][0]


def count_queries(world: dict) -> dict:
    """SQL statements per step of one checkout + pay, as the server runs them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    shopper = InProcessShopper(world["probe_shopper"][1])
    shopper.place(world["probe_sku"])  # warm caches (content types, translations) like a worker
    counts, statements = {}, {}
    with CaptureQueriesContext(connection) as q:
        r = shopper.place(world["probe_sku"])
    assert r.status_code == 201, r.content
    counts["place"], statements["place"] = len(q), [x["sql"] for x in q.captured_queries]
    order_id = r.json()["id"]
    with CaptureQueriesContext(connection) as q:
        r = shopper.pay(order_id)
    assert r.status_code == 200, r.content
    counts["pay"], statements["pay"] = len(q), [x["sql"] for x in q.captured_queries]
    note = provider_pays(prepay_of(r.json()))
    with CaptureQueriesContext(connection) as q:
        r = shopper.notify(note)
    assert r.status_code == 204, r.content
    counts["notify"], statements["notify"] = len(q), [x["sql"] for x in q.captured_queries]
    counts["total"] = counts["place"] + counts["pay"] + counts["notify"]
    return {"counts": counts, "statements": statements, "order_id": order_id}


def _layer(filename: str) -> str:
    """Which layer a profiled function belongs to, by where its code lives."""
    if "/siyu/" in filename and "site-packages" not in filename:
        return "siyu (our services, views, schemas)"
    marks = [
        ("psycopg", "psycopg (driver)"),
        ("django/db/", "Django ORM (query building, model instances)"),
        ("django/", "Django request, middleware, sessions, i18n"),
        ("ninja/", "ninja + pydantic (parse, validate, serialise)"),
        ("pydantic", "ninja + pydantic (parse, validate, serialise)"),
        ("cryptography/", "crypto (RSA verify, AES-GCM)"),
        ("wechatpayv3/", "crypto (RSA verify, AES-GCM)"),
        ("django_tasks", "task queue (unpaid-timeout task)"),
        ("logging/", "logging"),
        ("json/", "json"),
    ]
    for mark, name in marks:
        if mark in filename:
            return name
    return "Python stdlib and the rest"


def profile_checkouts(world: dict, n: int) -> dict:
    """Run n checkouts + pays in this process under cProfile with a CPU-time clock (so waiting
    for PostgreSQL or for a core on a busy machine does not count), and attribute the self time
    to layers. Wall time per step is measured too."""
    import cProfile
    import io
    import pstats

    shopper = InProcessShopper(world["probe_shopper"][1])
    wall = {"place": 0.0, "pay": 0.0, "notify": 0.0}
    cpu = dict(wall)
    prof = cProfile.Profile(time.process_time)

    def step(name, fn, *a):
        t, c = time.perf_counter(), time.process_time()
        prof.enable()
        r = fn(*a)
        prof.disable()
        wall[name] += time.perf_counter() - t
        cpu[name] += time.process_time() - c
        return r

    for _ in range(n):
        r = step("place", shopper.place, world["probe_sku"])
        r = step("pay", shopper.pay, r.json()["id"])
        signed = provider_pays(prepay_of(r.json()))  # WeChat's side: not profiled
        r = step("notify", shopper.notify, signed)
        assert r.status_code == 204, r.content
    stats = pstats.Stats(prof)
    if os.environ.get("SIYU_BENCH_PROFILE_OUT"):
        stats.dump_stats(os.environ["SIYU_BENCH_PROFILE_OUT"])
    layers: dict[str, float] = {}
    for (filename, _line, _fn), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        layer = _layer(filename)
        layers[layer] = layers.get(layer, 0.0) + tt
    total = sum(layers.values())
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(60)
    log("cProfile (CPU time), cumulative:\n" + out.getvalue())
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
    log("cProfile (CPU time), self:\n" + out.getvalue())
    return {
        "checkouts": n,
        "wall_ms_per_step": {k: round(1000 * v / n, 2) for k, v in wall.items()},
        "cpu_ms_per_step": {k: round(1000 * v / n, 2) for k, v in cpu.items()},
        "cpu_ms_per_order": round(1000 * sum(cpu.values()) / n, 2),
        "cpu_share_by_layer": {
            k: round(v / total, 3) for k, v in sorted(layers.items(), key=lambda kv: -kv[1])
        },
    }


# --- the server -------------------------------------------------------------------------------------


def start_server(env: dict, workdir: Path, port: int, workers: int) -> subprocess.Popen:
    cmd = [
        PYTHON,
        "-m",
        "gunicorn",
        "siyu.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--backlog",
        "2048",
        # gunicorn kills a worker silent for 30 s; on a busy shared machine the first request
        # (importing every app's URLs) can take that long
        "--timeout",
        "120",
        "--access-logfile",
        str(workdir / "access.log"),
        "--error-logfile",
        str(workdir / "gunicorn.log"),
    ]
    out = open(workdir / "gunicorn.out", "w")  # noqa: SIM115 (lives as long as the server)
    return subprocess.Popen(
        cmd,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT / "src")},
        cwd=workdir,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_server(proc: subprocess.Popen, workdir: Path, port: int) -> None:
    import requests

    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/catalog/shop/categories", timeout=5)
            if r.ok:
                break
            log(f"server answered {r.status_code}: {r.text[:300]}")
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {workdir / 'gunicorn.log'}")
        time.sleep(0.3)
    else:
        raise SystemExit("gunicorn did not answer within 240 s")
    # every worker loads the URLconf on its first request: get them all there before measuring
    from concurrent.futures import ThreadPoolExecutor

    def hit(_):
        return requests.get(f"http://127.0.0.1:{port}/api/v1/catalog/shop/categories", timeout=60)

    with ThreadPoolExecutor(16) as pool:
        for _round in range(3):
            list(pool.map(hit, range(64)))


# --- load clients (separate processes, several threads each) ---------------------------------------


def http_client_process(env, port, world, shopper_slices, ready, start, results):
    """Shoppers of this process, one thread per concurrent client."""
    setup_django(env, tasks_backend="django_tasks.backends.immediate.ImmediateBackend")
    import requests
    from django.conf import settings
    from django.db import connection

    from siyu.payments import devpay

    # The provider's delivery, measured: devpay.deliver POSTs to the server's notify_url.
    local = threading.local()
    original_post = devpay._post

    def timed_post(note):
        t = time.perf_counter()
        status, detail = original_post(note)
        local.notify = (status, time.perf_counter() - t)
        return status, detail

    devpay._post = timed_post
    base = f"http://127.0.0.1:{port}"
    records: list[tuple] = []
    lock = threading.Lock()

    def run(shoppers):
        http = requests.Session()
        csrf = secrets.token_hex(16)
        http.cookies.set(settings.CSRF_COOKIE_NAME, csrf)
        http.headers["X-CSRFToken"] = csrf
        mine = []
        try:
            ready.release()
            start.wait()
            i = 0
            while True:
                _cid, key = shoppers[i % len(shoppers)]
                i += 1
                http.cookies.set(settings.SIYU_SHOPPER_SESSION_COOKIE, key)
                t0 = time.perf_counter()
                r = http.post(
                    f"{base}/api/v1/orders/shop/orders",
                    json={
                        "items": [{"sku_id": world["hot_sku"], "quantity": 1}],
                        "address": ADDRESS,
                    },
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                    timeout=60,
                )
                t1 = time.perf_counter()
                if r.status_code == 409 and r.json()["error"]["code"] == "out_of_stock":
                    mine.append(("sold_out", t0, t1, 0, 0, 0))
                    break
                if r.status_code != 201:
                    mine.append((f"place_{r.status_code}", t0, t1, 0, 0, 0))
                    continue
                order_id = r.json()["id"]
                r = http.post(
                    f"{base}/api/v1/payments/orders/{order_id}/pay",
                    json={"method": "h5"},
                    timeout=60,
                )
                t2 = time.perf_counter()
                if r.status_code != 200:
                    mine.append((f"pay_{r.status_code}", t0, t1, t2, 0, 0))
                    continue
                local.notify = (None, 0.0)
                devpay.pay(prepay_of(r.json()))  # delivers the notification on commit
                t3 = time.perf_counter()
                status, notify_s = local.notify
                outcome = "paid" if status == 204 else f"notify_{status}"
                mine.append((outcome, t0, t1, t2, t3, notify_s))
        except Exception as exc:  # reported, never silent
            mine.append((f"error {type(exc).__name__}: {exc}"[:200], 0, 0, 0, 0, 0))
        finally:
            connection.close()
            with lock:
                records.extend(mine)

    threads = [threading.Thread(target=run, args=(s,)) for s in shopper_slices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(records)


def sql_client_process(pg_url, template, slices, ready, start, stop_at, results):
    """The ceiling: the statements an order needs, nothing else, one connection per thread."""
    import psycopg
    from psycopg.types.json import Jsonb

    def adapt(value):
        return Jsonb(value) if isinstance(value, (dict, list)) else value

    order_cols = [c for c in template["order"] if c != "id"]
    line_cols = [c for c in template["line"] if c != "id"]
    pay_cols = [c for c in template["payment"] if c != "id"]
    ins_order = (
        f"INSERT INTO orders_order ({', '.join(order_cols)}) "
        f"VALUES ({', '.join(['%s'] * len(order_cols))}) RETURNING id"
    )
    ins_line = (
        f"INSERT INTO orders_orderline ({', '.join(line_cols)}) "
        f"VALUES ({', '.join(['%s'] * len(line_cols))})"
    )
    ins_pay = (
        f"INSERT INTO payments_payment ({', '.join(pay_cols)}) "
        f"VALUES ({', '.join(['%s'] * len(pay_cols))}) RETURNING id"
    )
    reserve = (
        "UPDATE catalog_stocklevel SET on_hand = on_hand + 0, reserved = reserved + %s, "
        "updated_at = now() WHERE sku_id = %s AND location_id = %s AND on_hand - reserved >= %s "
        "RETURNING on_hand, reserved"
    )
    mark_paid = (
        "UPDATE orders_order SET status = 'paid', paid_fen = %s, paid_at = now(), "
        "payment_id = %s, transaction_id = %s WHERE id = %s AND status = 'pending_payment'"
    )
    counts = []
    lock = threading.Lock()

    def run(n_thread):
        done = 0
        latencies = []
        with psycopg.connect(pg_url) as conn:
            ready.release()
            start.wait()
            while time.time() < stop_at.value:
                t0 = time.perf_counter()
                tag = uuid.uuid4().hex
                order = dict(template["order"])
                order.update(number=f"C{tag[:20]}", idempotency_key=tag, status="pending_payment")
                order.update(payment_id=None, paid_fen=0, paid_at=None, transaction_id="")
                with conn.transaction():
                    order_id = conn.execute(
                        ins_order, [adapt(order[c]) for c in order_cols]
                    ).fetchone()[0]
                    line = dict(template["line"], order_id=order_id, sku_id=template["sku"])
                    conn.execute(ins_line, [adapt(line[c]) for c in line_cols])
                    got = conn.execute(
                        reserve, [1, template["sku"], template["location"], 1]
                    ).fetchone()
                    if got is None:
                        raise RuntimeError("ceiling SKU out of stock")
                with conn.transaction():
                    pay = dict(template["payment"])
                    pay.update(
                        order_id=order_id,
                        out_trade_no=f"C{tag[:20]}",
                        transaction_id=f"42{tag[:24]}",
                        prepay_id=f"wx{tag}",
                    )
                    payment_id = conn.execute(
                        ins_pay, [adapt(pay[c]) for c in pay_cols]
                    ).fetchone()[0]
                    conn.execute(
                        mark_paid,
                        [pay["amount_fen"], payment_id, pay["transaction_id"], order_id],
                    )
                latencies.append(time.perf_counter() - t0)
                done += 1
        with lock:
            counts.append((done, latencies))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(slices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(counts)


def rounded(d: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def run_ceiling(env, pg_url, template, clients, procs, seconds) -> dict:
    ctx = mp.get_context("spawn")
    start, results, ready = ctx.Event(), ctx.Queue(), ctx.Semaphore(0)
    stop_at = ctx.Value("d", 0.0)
    ps = [
        ctx.Process(
            target=sql_client_process, args=(pg_url, template, n, ready, start, stop_at, results)
        )
        for n in split(clients, procs)
        if n
    ]
    for p in ps:
        p.start()
    for _ in range(clients):  # every connection open
        ready.acquire()
    meter = Meter(pg_url, {"clients": lambda: [p.pid for p in ps]})
    meter.begin()
    t0 = time.time()
    stop_at.value = t0 + seconds
    start.set()
    collected = [results.get() for _ in ps]
    elapsed = time.time() - t0
    used = meter.end()
    for p in ps:
        p.join()
    done = sum(d for chunk in collected for d, _ in chunk)
    lat = [x for chunk in collected for _, ls in chunk for x in ls]
    return {
        "orders": done,
        "seconds": round(elapsed, 2),
        "orders_per_s": done / elapsed,
        "p50_ms": 1000 * pct(lat, 0.5),
        "p99_ms": 1000 * pct(lat, 0.99),
        "cpu_ms_per_order": cpu_per_order(used, done),
    }


def ceiling_template(pg_url: str, world: dict, order_id: int) -> dict:
    """The rows a real order left (the query-count probe), as the ceiling's values."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        order = conn.execute("SELECT * FROM orders_order WHERE id = %s", [order_id]).fetchone()
        line = conn.execute(
            "SELECT * FROM orders_orderline WHERE order_id = %s", [order_id]
        ).fetchone()
        payment = conn.execute(
            "SELECT * FROM payments_payment WHERE order_id = %s", [order_id]
        ).fetchone()
    return {
        "order": order,
        "line": line,
        "payment": payment,
        "sku": world["ceiling_sku"],
        "location": world["location"],
    }


# --- checks -----------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Meter(threading.Thread):
    """While a phase runs: the CPU our processes use, per group (server workers, clients,
    PostgreSQL backends of the bench database), and the hot stock row's available units, which
    must never go below zero. The machine is shared, so CPU per order is the figure that other
    people's work does not change much."""

    def __init__(self, pg_url: str, groups: dict, sku_id: int | None = None):
        super().__init__(daemon=True)
        self.pg_url, self.groups, self.sku_id = pg_url, groups, sku_id
        self.lowest = None
        self.stop = threading.Event()
        self.base: dict[int, tuple[str, float]] = {}
        self.last: dict[int, float] = {}
        self.ready = threading.Event()

    def _pids(self, conn) -> dict[str, list[int]]:
        found = {name: list(fn()) for name, fn in self.groups.items()}
        found["postgres"] = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ]
        return found

    def sample(self, conn, *, first: bool = False) -> None:
        for group, pids in self._pids(conn).items():
            for pid in pids:
                cpu = proc_cpu(pid)
                if cpu is None:
                    continue
                if pid not in self.base:
                    # a process that appears during the phase started during it
                    self.base[pid] = (group, cpu if first else 0.0)
                self.last[pid] = cpu
        if self.sku_id is not None:
            row = conn.execute(
                "SELECT on_hand - reserved FROM catalog_stocklevel WHERE sku_id = %s",
                [self.sku_id],
            ).fetchone()
            self.lowest = row[0] if self.lowest is None else min(self.lowest, row[0])

    def run(self):
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            self.sample(conn, first=True)
            self.ready.set()
            while not self.stop.wait(0.25):
                self.sample(conn)
            self.sample(conn)

    def begin(self) -> None:
        self.start()
        self.ready.wait()

    def end(self) -> dict[str, float]:
        self.stop.set()
        self.join()
        used: dict[str, float] = {}
        for pid, (group, base) in self.base.items():
            used[group] = used.get(group, 0.0) + max(0.0, self.last.get(pid, base) - base)
        return used


def cpu_per_order(used: dict[str, float], orders: int) -> dict[str, float]:
    out = {k: round(1000 * v / orders, 2) for k, v in sorted(used.items())} if orders else {}
    out["total"] = round(sum(out.values()), 2)
    return out


def check(pg_url: str, world: dict, initial: int) -> dict:
    import psycopg

    with psycopg.connect(pg_url) as conn:

        def one(sql, params=()):
            return conn.execute(sql, params).fetchone()

        on_hand, reserved = one(
            "SELECT on_hand, reserved FROM catalog_stocklevel WHERE sku_id = %s",
            [world["hot_sku"]],
        )
        sold = one(
            "SELECT coalesce(sum(l.quantity), 0) FROM orders_orderline l "
            "JOIN orders_order o ON o.id = l.order_id WHERE l.sku_id = %s AND o.status <> 'cancelled'",
            [world["hot_sku"]],
        )[0]
        paid_orders = one(
            "SELECT count(DISTINCT o.id) FROM orders_order o JOIN orders_orderline l "
            "ON l.order_id = o.id WHERE l.sku_id = %s AND o.status = 'paid'",
            [world["hot_sku"]],
        )[0]
        # the provider took the money, but the order is not paid by that payment
        confirmed_not_paid = one(
            "SELECT count(*) FROM payments_devtrade t "
            "LEFT JOIN payments_payment p ON p.out_trade_no = t.out_trade_no "
            "LEFT JOIN orders_order o ON o.id = p.order_id "
            "WHERE t.state = 'SUCCESS' AND NOT coalesce("
            "  p.status = 'succeeded' AND p.applied_to_order AND o.status = 'paid' "
            "  AND o.payment_id = p.id, false)"
        )[0]
        # paid orders with no succeeded, applied payment the provider confirmed
        paid_without_payment = one(
            "SELECT count(*) FROM orders_order o JOIN orders_orderline l ON l.order_id = o.id "
            "WHERE l.sku_id = %s AND o.status = 'paid' AND NOT EXISTS ("
            "  SELECT 1 FROM payments_payment p JOIN payments_devtrade t "
            "  ON t.out_trade_no = p.out_trade_no AND t.state = 'SUCCESS' "
            "  WHERE p.id = o.payment_id AND p.status = 'succeeded' AND p.applied_to_order)",
            [world["hot_sku"]],
        )[0]
    return {
        "on_hand": on_hand,
        "reserved": reserved,
        "units_in_live_orders": sold,
        "oversold": max(0, sold - initial) + max(0, reserved - on_hand),
        "reserved_matches_orders": reserved == sold,
        "paid_orders": paid_orders,
        "lost_paid": confirmed_not_paid + paid_without_payment,
    }


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute")
    parser.add_argument("--orders", type=int, help="units of the hot SKU (= orders sold)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent shoppers")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--client-procs", type=int, default=4, help="processes the clients use")
    parser.add_argument("--ceiling-seconds", type=float, help="seconds per ceiling half")
    parser.add_argument("--profile", type=int, default=0, help="profile K in-process checkouts")
    parser.add_argument(
        "--no-load", action="store_true", help="only count queries (and --profile); no server"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    orders = args.orders or (600 if args.quick else 3000)
    ceiling_seconds = args.ceiling_seconds or (5.0 if args.quick else 15.0)
    clients, procs = args.clients, max(1, min(args.client_procs, args.clients))

    workdir = Path(tempfile.mkdtemp(prefix="siyu-checkout-load-"))
    port = free_port()
    env = bench_env(workdir, args.pg_url, port)
    server = None
    try:
        log(f"fresh database {args.pg_url.rsplit('/', 1)[1]}; migrating")
        fresh_database(args.pg_url)
        setup_django(env)  # the database task queue, as the server has it
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        t = time.time()
        world = build_world(orders, clients * SHOPPERS_PER_CLIENT)
        log(f"setup: {orders} units, {len(world['shoppers'])} shoppers in {time.time() - t:.1f}s")

        queries = count_queries(world)
        log(f"queries per order: {queries['counts']}")
        for step, sqls in queries["statements"].items():
            log(f"  {step}:\n    " + "\n    ".join(s[:160] for s in sqls))
        profile = profile_checkouts(world, args.profile) if args.profile else None
        if profile:
            log(f"profile: {json.dumps(profile, ensure_ascii=False)}")
        if args.no_load:
            print(json.dumps({"queries_per_order": queries["counts"], "profile": profile}))
            return
        template = ceiling_template(args.pg_url, world, queries["order_id"])
        from django.db import connections

        connections.close_all()

        log(f"gunicorn with {args.workers} workers on port {port}")
        server = start_server(env, workdir, port, args.workers)
        wait_for_server(server, workdir, port)

        log(f"ceiling (first half): {clients} clients, {ceiling_seconds:.0f}s")
        ceil_a = run_ceiling(env, args.pg_url, template, clients, procs, ceiling_seconds)
        log(f"  {ceil_a['orders_per_s']:.0f} orders/s")

        log(f"load: {clients} clients in {procs} processes, {orders} units")
        ctx = mp.get_context("spawn")
        start, results, ready = ctx.Event(), ctx.Queue(), ctx.Semaphore(0)
        shoppers = world["shoppers"]
        slices = [shoppers[i::clients] for i in range(clients)]
        groups, k = [], 0
        for n in split(clients, procs):
            groups.append(slices[k : k + n])
            k += n
        ps = [
            ctx.Process(
                target=http_client_process, args=(env, port, world, group, ready, start, results)
            )
            for group in groups
            if group
        ]
        for p in ps:
            p.start()
        for _ in range(clients):  # every client has imported Django and is waiting
            ready.acquire()
        watch = Meter(
            args.pg_url,
            {"server": lambda: children_of(server.pid), "clients": lambda: [p.pid for p in ps]},
            world["hot_sku"],
        )
        watch.begin()
        t0 = time.perf_counter()
        wall0 = time.time()
        start.set()
        records = [r for _ in ps for r in results.get()]
        used = watch.end()  # before joining: an exited client's CPU is still readable
        for p in ps:
            p.join()
        paid = [r for r in records if r[0] == "paid"]
        end = max((r[4] for r in paid), default=t0)
        elapsed = end - t0
        outcomes: dict[str, int] = {}
        for r in records:
            outcomes[r[0]] = outcomes.get(r[0], 0) + 1
        log(f"  outcomes: {outcomes} in {elapsed:.1f}s (wall {time.time() - wall0:.1f}s)")

        log(f"ceiling (second half): {ceiling_seconds:.0f}s")
        ceil_b = run_ceiling(env, args.pg_url, template, clients, procs, ceiling_seconds)
        log(f"  {ceil_b['orders_per_s']:.0f} orders/s")

        checks = check(args.pg_url, world, orders)
        total_ms = [1000 * (r[4] - r[1]) for r in paid]
        ours = len(paid) / elapsed if elapsed > 0 else 0.0
        ceiling = (ceil_a["orders_per_s"] + ceil_b["orders_per_s"]) / 2
        ours_cpu = cpu_per_order(used, len(paid))
        ceiling_cpu = (
            ceil_a["cpu_ms_per_order"]["total"] * ceil_a["orders"]
            + ceil_b["cpu_ms_per_order"]["total"] * ceil_b["orders"]
        ) / max(1, ceil_a["orders"] + ceil_b["orders"])
        result = {
            "orders_per_s": round(ours, 1),
            "p50_ms": round(pct(total_ms, 0.5), 1),
            "p99_ms": round(pct(total_ms, 0.99), 1),
            "oversold": checks["oversold"],
            "lost_paid": checks["lost_paid"],
            "ceiling_orders_per_s": round(ceiling, 1),
            "ratio_to_ceiling": round(ours / ceiling, 3) if ceiling else 0.0,
            "clients": clients,
            "workers": args.workers,
            "orders": len(paid),
            "initial_stock": orders,
            "stock_lowest_available": watch.lowest,
            "stock_never_negative": (watch.lowest is None or watch.lowest >= 0)
            and checks["on_hand"] >= checks["reserved"],
            "reserved_matches_orders": checks["reserved_matches_orders"],
            "paid_orders_in_db": checks["paid_orders"],
            "outcomes": outcomes,
            "step_p50_ms": {
                "place": round(pct([1000 * (r[2] - r[1]) for r in paid], 0.5), 1),
                "pay": round(pct([1000 * (r[3] - r[2]) for r in paid], 0.5), 1),
                "provider_and_notify": round(pct([1000 * (r[4] - r[3]) for r in paid], 0.5), 1),
                "notify_http": round(pct([1000 * r[5] for r in paid], 0.5), 1),
            },
            "queries_per_order": queries["counts"],
            # CPU per order of our processes (server workers, shopper clients + the dev provider,
            # PostgreSQL) and of the ceiling's (its client, PostgreSQL)
            "cpu_ms_per_order": ours_cpu,
            # the same comparison by CPU spent per order (ceiling / ours): less sensitive to what
            # else the machine is doing than orders/s
            "cpu_ratio_to_ceiling": round(ceiling_cpu / ours_cpu["total"], 3)
            if ours_cpu.get("total")
            else 0.0,
            "ceiling": {"before": rounded(ceil_a), "after": rounded(ceil_b)},
            "profile": profile,
            "cpus": os.cpu_count(),
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        }
        targets = (
            result["oversold"] == 0
            and result["lost_paid"] == 0
            and result["stock_never_negative"]
            and result["orders"] == orders
        )
        result["targets_met"] = targets and result["ratio_to_ceiling"] >= 0.30
        print(json.dumps(result, ensure_ascii=False))
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # gunicorn and its workers
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if args.keep:
            log(f"kept {workdir} and the database")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            drop_database(args.pg_url)


if __name__ == "__main__":
    main()
