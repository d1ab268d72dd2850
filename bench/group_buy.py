"""Group buying under load, through the real HTTP API, on PostgreSQL.

    .venv/bin/python bench/group_buy.py            # 3,000 shoppers
    .venv/bin/python bench/group_buy.py --quick    # 300 shoppers, about a minute of load
    .venv/bin/python bench/group_buy.py --shoppers 5000 --clients 24

1. Creates a fresh PostgreSQL database (`--db`, default siyu_groupbuy_bench), migrates it, and
   seeds one on-shelf SKU with limited stock, a group-buy activity (groups of `--size`, default 3)
   and the shoppers, each with a logged-in shopper session (as after the SMS login).
2. Starts the real server (gunicorn, `siyu.wsgi`) and the task worker (`siyu worker`, which
   delivers the dev payment provider's signed notifications and runs the group-buy timers).
3. `--clients` threads play the shoppers over HTTP: a shopper joins an open group whose share code
   another shopper published (`POST /api/v1/groupbuy/shop/groups/{code}/join`), or opens one of
   their own when none has a seat (`.../activities/{id}/open`), then pays like a browser: `POST
   /api/v1/payments/orders/{id}/pay` and the dev cashier. About one in ten never pays (their seat
   is held until the group closes). Some find the stock sold out.
4. The clock is advanced: every open group's deadline (and its persisted timer) is moved to now;
   the worker fails them, refunds their paid members through orders and payments, and cancels
   unpaid orders. The bench waits until every refund is confirmed (or times out).
5. Checks from the database: no group ever holds more paid members than its size (`over_filled`),
   every paid member of a failed group refunded and confirmed (`refunds_missing`), success recorded
   once per group, stock never negative.

The last line is JSON: shoppers, groups_succeeded, groups_failed, over_filled, refunds_missing
(orders of failed groups whose confirmed refunds are less than the money that came in, by any
path), refunded_more_than_paid, double_successes, orders, orders_per_s, payments_per_s,
seconds_load, seconds_settle, stock_ok, and the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
ADDRESS = {
    "name": "压测买家",
    "phone": "13800138000",
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


def migrations_fingerprint() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((ROOT / "src" / "siyu").glob("*/migrations/*.py")):
        digest.update(f"{path.relative_to(ROOT)}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def create_database(name: str, workdir: Path) -> str:
    """A fresh database, copied from a migrated template kept between runs (migrating takes a
    minute or two on a busy machine); the template is rebuilt when the migrations change."""
    import psycopg

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    template = f"{name}_tpl"
    fingerprint = migrations_fingerprint()
    with psycopg.connect(admin, autocommit=True) as c:
        row = c.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [template],
        ).fetchone()
        if row is None or row[0] != fingerprint:
            c.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{template}"')
            log(f"migrating the template database {template}")
            env = environment(f"postgres://postgres@127.0.0.1:5432/{template}", workdir)
            subprocess.run([str(VENV / "siyu"), "migrate", "-v", "0"], env=env, check=True)
            c.execute(f"COMMENT ON DATABASE \"{template}\" IS '{fingerprint}'")
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def environment(url: str, workdir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        SIYU_VAR_DIR=str(workdir),
        DJANGO_SETTINGS_MODULE="siyu.settings",
        SIYU_PAYMENT_PROVIDER="dev",
        SIYU_DEV_PAY_ALLOWED="true",
        SIYU_DEV_PAY_KEY_DIR=str(workdir / "devpay"),
        SIYU_DEV_PAY_NOTIFY_URL="",
        SIYU_DEV_PAY_REFUND_SECONDS="0",
        SIYU_LOG_LEVEL="ERROR",
        SIYU_GROUPBUY_SWEEP_MINUTES="1",
        SIYU_CONN_MAX_AGE="60",
    )
    env.pop("REDIS_URL", None)
    return env


def seed(shoppers: int, size: int, stock: int) -> dict:
    """Product, activity and shoppers with sessions, straight through the services and ORM."""
    from datetime import timedelta
    from importlib import import_module

    from django.conf import settings
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from siyu.catalog import services as catalog
    from siyu.catalog import stock as stock_service
    from siyu.catalog.models import LocationKind
    from siyu.core.access import Actor
    from siyu.customers.models import Customer
    from siyu.groupbuy import services as groupbuy

    system = Actor.system("bench")
    warehouse = catalog.save_location(
        actor=system, code="WH-BENCH", name="压测仓", kind=LocationKind.WAREHOUSE, ships_online=True
    )
    category = catalog.save_category(actor=system, name="拼团压测")
    product = catalog.create_product(
        catalog.ProductInput(
            title="拼团压测精华 30ml",
            category_id=category.pk,
            skus=[catalog.SkuInput(code="GB-BENCH-30", price_fen=19900, cost_fen=6000)],
        ),
        actor=system,
    )
    catalog.set_shelf_status(product.pk, "on_shelf", actor=system)
    sku = product.skus.get()
    stock_service.adjust(sku.pk, warehouse.pk, stock, actor=system, note="bench")
    now = timezone.now()
    activity = groupbuy.create_activity(
        groupbuy.ActivityInput(
            title=f"{size} 人团压测",
            group_size=size,
            time_limit_hours=1,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(days=1),
            items=[(sku.pk, 9900)],
        ),
        actor=system,
    )
    customers = Customer.objects.bulk_create(
        [Customer(name=f"压测{i}", source="mall") for i in range(shoppers)], batch_size=1000
    )
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    expire = now + timedelta(days=1)
    sessions = []
    for c in customers:
        key = secrets.token_hex(16)
        data = store_class().encode({"customer_id": c.pk})
        sessions.append(Session(session_key=key, session_data=data, expire_date=expire))
    Session.objects.bulk_create(sessions, batch_size=1000)
    return {
        "activity_id": activity.pk,
        "sku_id": sku.pk,
        "sessions": [s.session_key for s in sessions],
        "cookie": settings.SIYU_SHOPPER_SESSION_COOKIE,
    }


def wait_for(url: str, seconds: float = 240) -> None:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=60).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


class Shopper:
    """One shopper's browser-like HTTP session."""

    def __init__(self, base: str, cookie: str, session_key: str) -> None:
        import requests

        self.base = base
        self.http = requests.Session()
        self.csrf = secrets.token_hex(16)
        self.http.cookies.set(cookie, session_key)
        self.http.cookies.set("csrftoken", self.csrf)
        self.http.headers["X-CSRFToken"] = self.csrf

    def post(self, path: str, body: dict | None = None, **headers):
        return self.http.post(self.base + path, json=body or {}, headers=headers, timeout=60)

    def seat(self, path: str, sku_id: int):
        body = {"sku_id": sku_id, "quantity": 1, "address": ADDRESS}
        return self.post(path, body, **{"Idempotency-Key": uuid.uuid4().hex})

    def is_open(self, code: str) -> bool:
        got = self.http.get(f"{self.base}/api/v1/groupbuy/shop/groups/{code}", timeout=60)
        return got.status_code == 200 and got.json()["status"] == "open"

    def pay(self, order_id: int) -> bool:
        started = self.post(f"/api/v1/payments/orders/{order_id}/pay", {"method": "h5"})
        if started.status_code != 200:
            return False
        cashier = started.json()["redirect_url"]
        if cashier.startswith("/"):
            cashier = self.base + cashier
        done = self.http.post(
            cashier,
            data={"action": "pay", "csrfmiddlewaretoken": self.csrf},
            allow_redirects=False,
            timeout=60,
        )
        return done.status_code in (302, 303)


def play(base: str, seeded: dict, clients: int, outcome: Counter, lock) -> float:
    activity_id, sku_id = seeded["activity_id"], seeded["sku_id"]
    open_codes: list[str] = []  # share links shoppers have "seen" in their WeChat groups
    pending_codes: list[str] = []  # paid by the initiator, confirmation maybe still on its way
    queue = list(seeded["sessions"])
    random.Random(11).shuffle(queue)
    latencies: list[float] = []

    def shopper_turn(session_key: str, rng: random.Random) -> None:
        me = Shopper(base, seeded["cookie"], session_key)
        seat = None
        with lock:
            waiting = pending_codes.pop(0) if pending_codes else None
        if waiting is not None:
            if me.is_open(waiting):
                with lock:
                    open_codes.append(waiting)
            else:
                with lock:
                    pending_codes.append(waiting)
        with lock:
            candidates = rng.sample(open_codes, min(3, len(open_codes)))
        for code in candidates:
            t = time.monotonic()
            answer = me.seat(f"/api/v1/groupbuy/shop/groups/{code}/join", sku_id)
            with lock:
                latencies.append(time.monotonic() - t)
            if answer.status_code == 201:
                seat = answer.json()
                outcome["joined"] += 1
                break
            code_of = answer.json().get("error", {}).get("code")
            if code_of == "out_of_stock":
                with lock:
                    outcome["sold_out"] += 1
                return
            if code_of == "group_closed":
                with lock:
                    if code in open_codes:
                        open_codes.remove(code)
        opened = False
        if seat is None:
            t = time.monotonic()
            answer = me.seat(f"/api/v1/groupbuy/shop/activities/{activity_id}/open", sku_id)
            with lock:
                latencies.append(time.monotonic() - t)
            if answer.status_code != 201:
                code_of = answer.json().get("error", {}).get("code")
                with lock:
                    outcome["sold_out" if code_of == "out_of_stock" else f"refused:{code_of}"] += 1
                return
            seat, opened = answer.json(), True
            with lock:
                outcome["opened"] += 1
        if rng.random() < 0.1:
            with lock:
                outcome["never_paid"] += 1
            return
        if me.pay(seat["order_id"]):
            with lock:
                outcome["paid"] += 1
            if opened:
                # shared once its page says it is open (the payment's confirmation comes back
                # through the worker): checked by the next shopper who looks for a group
                with lock:
                    pending_codes.append(seat["group"]["code"])
        else:
            with lock:
                outcome["pay_failed"] += 1

    def worker(n: int) -> None:
        rng = random.Random(n)
        while True:
            with lock:
                if not queue:
                    return
                key = queue.pop()
            try:
                shopper_turn(key, rng)
            except Exception as exc:  # counted, the bench goes on
                with lock:
                    outcome[f"error:{type(exc).__name__}"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    if latencies:
        outcome["p50_ms"] = int(latencies[len(latencies) // 2] * 1000)
        outcome["p95_ms"] = int(latencies[int(len(latencies) * 0.95)] * 1000)
    return elapsed


def wait_while_moving(check, progress, *, idle: float, cap: float, what: str) -> bool:
    """Wait until `check()`; give up only when `progress()` has not changed for `idle` seconds
    (the worker is stuck, not slow) or after `cap` seconds."""
    started = last_change = time.monotonic()
    seen = progress()
    while time.monotonic() - started < cap:
        if check():
            return True
        time.sleep(1)
        now_seen = progress()
        if now_seen != seen:
            seen, last_change = now_seen, time.monotonic()
        elif time.monotonic() - last_change > idle:
            break
    log(f"gave up waiting for {what}")
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 shoppers, about a minute of load")
    parser.add_argument("--shoppers", type=int, default=None)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--task-workers", type=int, default=3)
    parser.add_argument("--db", default="siyu_groupbuy_bench")
    args = parser.parse_args()
    shoppers = args.shoppers or (300 if args.quick else 3000)
    stock = int(shoppers * 0.9)  # some shoppers find it sold out

    workdir = Path(tempfile.mkdtemp(prefix="siyu-groupbuy-bench-"))
    url = create_database(args.db, workdir)
    env = environment(url, workdir)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT / "src"))

    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count, Q, Sum
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from siyu.catalog.models import StockLevel
    from siyu.groupbuy.models import Group, GroupStatus, GroupStatusChange, Member, MemberStatus
    from siyu.payments.models import DevTrade, Payment, Refund

    log(f"seeding {shoppers} shoppers")
    seeded = seed(shoppers, args.size, stock)
    connection.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [
                str(VENV / "gunicorn"),
                "siyu.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(args.server_workers),
                "-k",
                "gthread",
                "--threads",
                "8",
                "--log-level",
                "warning",
                "--preload",
                "--timeout",
                "120",
                "--keep-alive",
                "75",
            ],
            env=env,
            cwd=ROOT,
        ),
        subprocess.Popen([str(VENV / "siyu"), "worker", "--tick", "2"], env=env, cwd=ROOT),
        subprocess.Popen([str(VENV / "siyu"), "worker", "--no-scheduler"], env=env, cwd=ROOT),
    ]
    try:
        wait_for(base + "/api/v1/groupbuy/shop/activities")
        load_before = os.getloadavg()[0]
        outcome: Counter = Counter()
        log(f"{shoppers} shoppers, {args.clients} clients, groups of {args.size}")
        seconds_load = play(base, seeded, args.clients, outcome, threading.Lock())
        log(f"load phase {seconds_load:.1f}s: {dict(outcome)}")

        def payments_applied() -> bool:
            paid_trades = DevTrade.objects.filter(state="SUCCESS").values("out_trade_no")
            return not Payment.objects.filter(
                status="pending", out_trade_no__in=paid_trades
            ).exists()

        wait_while_moving(
            payments_applied,
            lambda: DBTaskResult.objects.exclude(status="READY").count(),
            idle=120,
            cap=1800,
            what="payment notifications",
        )
        seconds_confirm = time.monotonic()

        # the clock moves on: every open group's deadline is now, and so is its timer
        settle_started = time.monotonic()
        now = timezone.now()
        open_ids = list(Group.objects.filter(status=GroupStatus.OPEN).values_list("pk", flat=True))
        Group.objects.filter(pk__in=open_ids).update(expires_at=now)
        DBTaskResult.objects.filter(task_path__endswith="expire_group_task", status="READY").update(
            run_after=now
        )
        log(f"advanced the clock for {len(open_ids)} open groups")

        def settled() -> bool:
            return (
                not Group.objects.filter(status=GroupStatus.OPEN).exists()
                and not Member.objects.filter(
                    group__status=GroupStatus.FAILED,
                    status__in=[MemberStatus.PAID, MemberStatus.PENDING_PAYMENT],
                ).exists()
                and not Member.objects.filter(status=MemberStatus.REFUNDING).exists()
                and not Refund.objects.filter(status__in=["pending", "processing"]).exists()
            )

        def finished_tasks() -> int:
            return DBTaskResult.objects.exclude(status="READY").count()

        wait_while_moving(
            settled, finished_tasks, idle=180, cap=3600, what="failed groups to be refunded"
        )
        seconds_settle = time.monotonic() - settle_started
        del seconds_confirm

        paid_states = [MemberStatus.PAID, MemberStatus.SUCCEEDED]
        per_group = Group.objects.annotate(
            paid=Count("members", filter=Q(members__status__in=paid_states))
        )
        over_filled = sum(1 for g in per_group if g.paid > g.size or g.paid_count > g.size)
        succeeded = Group.objects.filter(status=GroupStatus.SUCCEEDED)
        short = sum(1 for g in per_group.filter(status=GroupStatus.SUCCEEDED) if g.paid != g.size)
        double = (
            GroupStatusChange.objects.filter(to_status="succeeded")
            .values("group_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        failed = Group.objects.filter(status=GroupStatus.FAILED)
        # money in and out per order of a failed group, whatever path it took: a member's refund
        # through orders, or payments' automatic refund of money that arrived too late
        failed_orders = Member.objects.filter(group__status=GroupStatus.FAILED).values("order_id")
        paid_in = dict(
            Payment.objects.filter(order_id__in=failed_orders, paid_at__isnull=False)
            .values("order_id")
            .annotate(total=Sum("amount_fen"))
            .values_list("order_id", "total")
        )
        paid_back = dict(
            Refund.objects.filter(order_id__in=failed_orders, status="succeeded")
            .values("order_id")
            .annotate(total=Sum("amount_fen"))
            .values_list("order_id", "total")
        )
        refunds_missing = sum(1 for pk, fen in paid_in.items() if paid_back.get(pk, 0) < fen)
        refunded_twice = sum(1 for pk, fen in paid_back.items() if fen > paid_in.get(pk, 0))
        level = StockLevel.objects.get(sku_id=seeded["sku_id"])
        orders = Member.objects.count()
        payments = Member.objects.filter(paid_at__isnull=False).count()
        result = {
            "shoppers": shoppers,
            "group_size": args.size,
            "clients": args.clients,
            "groups_succeeded": succeeded.count(),
            "groups_failed": failed.count(),
            "groups_abandoned": Group.objects.filter(status=GroupStatus.ABANDONED).count(),
            "over_filled": over_filled,
            "succeeded_short": short,
            "double_successes": double,
            "refunds_missing": refunds_missing,
            "refunded_more_than_paid": refunded_twice,
            "late_payments_refunded": Refund.objects.filter(
                order_id__in=failed_orders, origin="unapplied", status="succeeded"
            ).count(),
            "members_refunded": Member.objects.filter(status=MemberStatus.REFUNDED).count(),
            "orders": orders,
            "orders_per_s": round(orders / seconds_load, 1),
            "payments_per_s": round(payments / seconds_load, 1),
            "seconds_load": round(seconds_load, 1),
            "seconds_settle": round(seconds_settle, 1),
            "stock_ok": level.on_hand >= level.reserved >= 0,
            "shopper_outcomes": {k: v for k, v in outcome.items() if not k.endswith("_ms")},
            "seat_p50_ms": outcome.get("p50_ms"),
            "seat_p95_ms": outcome.get("p95_ms"),
            "load_avg_before": round(load_before, 1),
            "load_avg_after": round(os.getloadavg()[0], 1),
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        connection.close()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
