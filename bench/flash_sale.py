"""A burst of buyers at the start of a flash sale, through the HTTP API of a real server.

    .venv/bin/python bench/flash_sale.py            # 5,000 buyers, 100 units
    .venv/bin/python bench/flash_sale.py --quick    # 1,000 buyers, 100 units, about a minute
    .venv/bin/python bench/flash_sale.py --buyers 5000 --units 100 --workers 4 --threads 4

1. Creates a PostgreSQL database (`--database`, dropped first), migrates it, and adds a product
   with plenty of stock, `--buyers` customers and a logged-in H5 shopper session for each (bulk
   inserts; the API authenticates them exactly as it does a phone's cookie).
2. For each mode — `db` (conditional database updates) and `redis` (the atomic Lua admission in
   Redis in front of them, `REDIS_URL=--redis`) — sets up a fresh flash sale of `--units` units,
   one per customer, starts gunicorn from the venv (`--workers` × `--threads`) with that mode's
   environment, warms it up, then releases every buyer at once: each sends
   `POST /api/v1/marketing/shop/flash-sales/items/<id>/orders` with its session cookie, a CSRF
   token and its own Idempotency-Key (at most `--concurrency` connections in flight, the rest
   queued on the client, one connection per buyer).
3. Checks the database afterwards: units in flash-sale orders vs the quota (oversold), customers
   holding more than the limit (over_limit), the item's counter and the stock reservation.

orders_per_s = orders created / seconds from the first request to the last answer;
sold_out_after_s = when the last order was answered (orders_per_s_until_sold_out from it);
p99_ms / p50_ms = latency of every request (sent → answer), winners and losers alike.
The last line is JSON with both modes, and redis_over_db = the ratio of their orders_per_s.
The machine is shared: the load average while it ran is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
ADDRESS = {
    "name": "抢购用户",
    "phone": "13812345678",
    "province": "上海市",
    "city": "上海市",
    "district": "静安区",
    "detail": "南京西路1515号",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- database and data ------------------------------------------------------------------------------


def create_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def make_buyers(n: int) -> list[tuple[int, str]]:
    """n customers, each with a shopper session (customer id, session key)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from siyu.customers.models import Customer

    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not settings.SESSION_ENGINE.endswith(".db"):
        raise SystemExit(
            f"the bench writes sessions to the database, not {settings.SESSION_ENGINE}"
        )
    customers = Customer.objects.bulk_create(
        [Customer(name=f"抢购{i:05d}", source="mall") for i in range(n)], batch_size=1000
    )
    expires = timezone.now() + timedelta(days=1)
    sessions = []
    for c in customers:
        key = secrets.token_hex(16)
        data = store().encode({"customer_id": c.pk, "login_method": "bench"})
        sessions.append(Session(session_key=key, session_data=data, expire_date=expires))
    Session.objects.bulk_create(sessions, batch_size=1000)
    return [(c.pk, s.session_key) for c, s in zip(customers, sessions, strict=True)]


def make_product():
    from siyu.catalog import services as catalog
    from siyu.catalog import stock
    from siyu.catalog.models import LocationKind
    from siyu.core.access import Actor

    system = Actor.system("bench")
    warehouse = catalog.save_location(
        actor=system, code="WH-BENCH", name="压测仓", kind=LocationKind.WAREHOUSE, ships_online=True
    )
    category = catalog.save_category(actor=system, name="秒杀压测")
    product = catalog.create_product(
        catalog.ProductInput(
            title="秒杀压测精华",
            category_id=category.pk,
            skus=[catalog.SkuInput(code="BENCH-FS-1", price_fen=19900, cost_fen=6000)],
        ),
        actor=system,
    )
    catalog.set_shelf_status(product.pk, "on_shelf", actor=system)
    sku = product.skus.get()
    stock.adjust(sku.pk, warehouse.pk, 1_000_000, actor=system, note="bench")
    return sku


def make_sale(sku, units: int, title: str):
    from django.utils import timezone

    from siyu.core.access import Actor
    from siyu.marketing import flash

    ops = Actor(kind="staff", role="operator", label="bench")
    now = timezone.now()
    sale = flash.create_sale(
        ops,
        title=title,
        starts_at=now - timedelta(seconds=1),
        ends_at=now + timedelta(hours=2),
        per_customer_limit=1,
        items=[flash.ItemInput(sku.pk, 9900, units)],
        publish=True,
    )
    return sale, sale.items.get()


def prime_redis(sale, redis_url: str) -> None:
    from django.conf import settings

    from siyu.marketing import reservations

    settings.REDIS_URL = redis_url
    try:
        r = reservations.client()
        for key in r.scan_iter("siyu:{fs*"):
            r.delete(key)
        reservations.prime(sale.pk)
    finally:
        settings.REDIS_URL = ""


def check(sale, item, sku) -> dict:
    from django.db.models import Sum

    from siyu.catalog.models import StockLevel
    from siyu.marketing.models import FlashSaleItem
    from siyu.orders.models import OrderLine

    lines = OrderLine.objects.filter(
        sku_id=sku.pk,
        order__channel="flash_sale",
        order__created_at__gte=sale.starts_at,
        order__adjustments__code="flash_sale",
        order__adjustments__ref=str(item.pk),
    ).exclude(order__status="cancelled")
    units = lines.aggregate(n=Sum("quantity"))["n"] or 0
    per_customer = (
        lines.values("order__customer_id").annotate(n=Sum("quantity")).filter(n__gt=1).count()
    )
    counter = FlashSaleItem.objects.get(pk=item.pk).sold
    level = StockLevel.objects.filter(sku_id=sku.pk).aggregate(
        on_hand=Sum("on_hand"), reserved=Sum("reserved")
    )
    return {
        "units_sold": units,
        "oversold": max(0, units - item.quota) + max(0, counter - item.quota),
        "over_limit": per_customer,
        "counter_matches_orders": counter == units,
        "stock_never_negative": (level["on_hand"] or 0) >= (level["reserved"] or 0),
    }


# --- the server -------------------------------------------------------------------------------------


def start_server(env: dict, port: int, workers: int, threads: int, logdir: Path):
    log_file = open(logdir / f"gunicorn-{port}.log", "w")  # noqa: SIM115 - closed by stop_server
    proc = subprocess.Popen(
        [
            str(VENV / "gunicorn"),
            "siyu.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--backlog",
            "4096",
            "--timeout",
            "120",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 300  # booting four workers on a loaded two-core machine is slow
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(
                    b"GET /console/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                )
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, log_file
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {log_file.name}")
        time.sleep(0.3)
    stop_server(proc, log_file)
    raise SystemExit(f"gunicorn did not answer /console/healthz in 300 s; see {log_file.name}")


def stop_server(proc, log_file) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)  # quick shutdown: the burst is over
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    log_file.close()


# --- the burst --------------------------------------------------------------------------------------


def request_bytes(port: int, path: str, session_key: str, cookie_name: str, key: str) -> bytes:
    csrf = secrets.token_hex(16)
    body = json.dumps({"quantity": 1, "address": ADDRESS}, ensure_ascii=False).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Cookie: {cookie_name}={session_key}; csrftoken={csrf}\r\n"
        f"X-CSRFToken: {csrf}\r\n"
        f"Idempotency-Key: {key}\r\n"
        f"Referer: http://127.0.0.1:{port}/m/marketing/flash/\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def _send(port: int, payload: bytes) -> tuple[int, float, bytes, float]:
    """(status, latency ms, body head, moment answered)."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        raw = await reader.read()
        writer.close()
    except OSError:
        now = time.perf_counter()
        return 0, (now - started) * 1000, b"", now
    now = time.perf_counter()
    try:
        status = int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, (now - started) * 1000, raw.partition(b"\r\n\r\n")[2][:300], now


async def burst(port: int, payloads: list[bytes], concurrency: int) -> tuple[list, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one(payload):
        async with gate:
            return await _send(port, payload)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(p) for p in payloads))
    return [(s, ms, b, at - started) for s, ms, b, at in results], time.perf_counter() - started


async def warm_up(port: int, n: int, cookie: str) -> None:
    """Every worker thread imports and connects before the burst (a shopper's GET)."""
    get = (
        f"GET /api/v1/marketing/shop/flash-sales HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: {cookie}\r\nConnection: close\r\n\r\n"
    ).encode()
    await burst(port, [get] * n, 8)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def run_mode(mode: str, args, base_env: dict, sku, buyers, logdir: Path) -> dict:
    from django.conf import settings

    sale, item = make_sale(sku, args.units, f"压测秒杀 {mode}")
    env = dict(base_env)
    if mode == "redis":
        env["REDIS_URL"] = args.redis
        env["SIYU_FLASH_SALE_MODE"] = "auto"
        prime_redis(sale, args.redis)
    else:
        env.pop("REDIS_URL", None)
        env["SIYU_FLASH_SALE_MODE"] = "db"
    port = free_port()
    proc, log_file = start_server(env, port, args.workers, args.threads, logdir)
    try:
        cookie = settings.SIYU_SHOPPER_SESSION_COOKIE
        asyncio.run(warm_up(port, 4 * args.workers * args.threads, f"{cookie}={buyers[0][1]}"))
        path = f"/api/v1/marketing/shop/flash-sales/items/{item.pk}/orders"
        payloads = [
            request_bytes(port, path, key, cookie, f"bench-{mode}-{cid}") for cid, key in buyers
        ]
        load_before = os.getloadavg()[0]
        log(f"{mode}: {len(payloads)} buyers → {args.units} units on :{port}")
        results, seconds = asyncio.run(burst(port, payloads, args.concurrency))
        load_after = os.getloadavg()[0]
    finally:
        stop_server(proc, log_file)
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    for status, _ms, body, _at in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 409:
            try:
                code = json.loads(body.decode(errors="replace"))["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "unparsed"
            codes[code] = codes.get(code, 0) + 1
    unexpected = [b for s, _ms, b, _at in results if s not in (201, 409)][:3]
    latencies = [ms for _s, ms, _b, _at in results]
    created = statuses.get("201", 0)
    sold_out_at = max((at for s, _ms, _b, at in results if s == 201), default=0.0)
    figures = check(sale, item, sku)
    out = {
        "orders": created,
        "orders_per_s": round(created / seconds, 1),
        "requests_per_s": round(len(results) / seconds, 1),
        "seconds": round(seconds, 2),
        # the last order answered: how long the units lasted
        "sold_out_after_s": round(sold_out_at, 2),
        "orders_per_s_until_sold_out": round(created / sold_out_at, 1) if sold_out_at else 0,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "statuses": statuses,
        "refusals": codes,
        "load_avg": [round(load_before, 1), round(load_after, 1)],
        **figures,
    }
    if unexpected:
        out["unexpected_bodies"] = [b.decode(errors="replace")[:200] for b in unexpected]
    log(f"{mode}: {json.dumps(out, ensure_ascii=False)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 buyers (about a minute)")
    parser.add_argument("--buyers", type=int, default=None)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=500, help="connections in flight")
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument("--database", default="siyu_bench_flash_sale")
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/3")
    )
    parser.add_argument("--modes", default="db,redis")
    args = parser.parse_args()
    buyers_n = args.buyers or (1000 if args.quick else 5000)

    workdir = Path(tempfile.mkdtemp(prefix="flash-bench-"))
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "siyu.settings",
        "DATABASE_URL": f"{args.pg}/{args.database}",
        "SIYU_VAR_DIR": str(workdir / "var"),
        "SIYU_DEBUG": "0",
        "SIYU_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "src"),
    }
    base_env.pop("REDIS_URL", None)
    base_env.pop("SIYU_ENV", None)
    log(f"database {args.database}, {buyers_n} buyers, {args.units} units, workdir {workdir}")
    create_database(args.pg, args.database)
    setup_django({k: v for k, v in base_env.items() if k != "PYTHONPATH"})
    started = time.perf_counter()
    migrate()
    sku = make_product()
    buyers = make_buyers(buyers_n)
    log(f"set up in {time.perf_counter() - started:.1f} s")

    report: dict = {"buyers": buyers_n, "units": args.units, "limit_per_customer": 1}
    report["server"] = f"gunicorn gthread {args.workers} workers × {args.threads} threads"
    report["client_concurrency"] = args.concurrency
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        report[mode] = run_mode(mode, args, base_env, sku, buyers, workdir)
    if "db" in report and "redis" in report and report["db"]["orders_per_s"]:
        report["redis_over_db"] = round(
            report["redis"]["orders_per_s"] / report["db"]["orders_per_s"], 2
        )
    report["ok"] = all(
        report[m]["oversold"] == 0 and report[m]["over_limit"] == 0
        for m in ("db", "redis")
        if m in report
    )
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
