"""Real concurrency on PostgreSQL: threads racing for the last units, and a worker killed in the
middle of releasing stock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from siyu.catalog.models import StockLevel, StockMovement, StockReason
from siyu.customers.models import Customer
from siyu.orders.errors import OutOfStock
from siyu.orders.models import Order, OrderStatus
from tests import commerce

BUYERS = 200
UNITS = 50
THREADS = 32  # concurrent database connections (the shared server allows 100 in total)


def _run_threads(target, chunks):
    barrier = threading.Barrier(len(chunks))
    errors = []

    def run(chunk):
        try:
            barrier.wait()
            target(chunk)
        except Exception as exc:  # reported below; a thread must not die silently
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_buyers_for_50_units_make_exactly_50_paid_orders():
    sku = commerce.sku_of(commerce.product(stock=UNITS, price_fen=9900))
    customers = Customer.objects.bulk_create(
        [Customer(name=f"买家{i}", source="mall") for i in range(BUYERS)]
    )
    outcome = Counter()
    lock = threading.Lock()
    lowest_available = [UNITS]
    done = threading.Event()

    def watch():
        try:
            while not done.is_set():
                level = StockLevel.objects.get(sku=sku)
                with lock:
                    lowest_available[0] = min(lowest_available[0], level.on_hand - level.reserved)
                time.sleep(0.005)
        finally:
            connection.close()

    def buy(chunk):
        for c in chunk:
            try:
                order = commerce.place(c, [(sku, 1)], key=f"buy-{c.pk}")
            except OutOfStock:
                with lock:
                    outcome["sold_out"] += 1
                continue
            commerce.pay(order)
            with lock:
                outcome["paid"] += 1

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        _run_threads(buy, [customers[i::THREADS] for i in range(THREADS)])
    finally:
        done.set()
        watcher.join()
    elapsed = time.monotonic() - started

    assert outcome == {"paid": UNITS, "sold_out": BUYERS - UNITS}
    assert Order.objects.filter(status=OrderStatus.PAID).count() == UNITS
    assert not Order.objects.exclude(status=OrderStatus.PAID).exists()
    level = StockLevel.objects.get(sku=sku)
    assert (level.on_hand, level.reserved, level.available) == (UNITS, UNITS, 0)
    assert lowest_available[0] >= 0
    reservations = StockMovement.objects.filter(sku=sku, reason=StockReason.RESERVATION)
    assert reservations.count() == UNITS
    assert sorted(reservations.values_list("reserved_after", flat=True)) == list(
        range(1, UNITS + 1)
    )
    assert elapsed < 60


def _pg_dsn() -> str:
    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _worker(dsn: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        SIYU_ENV="test",
        SIYU_TEST_DATABASE_URL=dsn.replace("postgresql://", "postgres://"),
        SIYU_LOG_LEVEL="WARNING",
    )
    env.pop("SIYU_TASKS_IMMEDIATE", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "siyu.cli",
            "db_worker",
            "--batch",
            "--queue-name",
            "*",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            "0",
            "-v",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(condition, timeout=120.0, what="", debug=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {debug() if debug else ''}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killing_the_worker_mid_release_neither_loses_nor_repeats_a_release():
    """Six overdue orders; the worker releases three, then blocks inside the fourth release (we
    hold its stock row) and is killed with SIGKILL. Its open transaction dies with it. Running
    the worker and the overdue sweep again releases the other three exactly once."""
    from django_tasks_db.models import DBTaskResult

    from siyu.orders.tasks import expire_overdue_orders

    a = commerce.sku_of(commerce.product("精华", stock=20))
    b = commerce.sku_of(commerce.product("面霜", stock=20))
    plan = [a, a, a, b, a, a]
    orders = [
        commerce.place(commerce.customer(f"买家{i}"), [(sku, 2)]) for i, sku in enumerate(plan)
    ]
    past = timezone.now() - timedelta(minutes=10)
    for i, order in enumerate(orders):
        due = past + timedelta(seconds=i)
        Order.objects.filter(pk=order.pk).update(payment_deadline=due)
        DBTaskResult.objects.filter(args_kwargs__args=[order.pk]).update(run_after=due)
    assert commerce.stock_of(a).reserved == 10 and commerce.stock_of(b).reserved == 2

    dsn = _pg_dsn()
    holder = psycopg.connect(dsn)
    holder.execute("SELECT 1 FROM catalog_stocklevel WHERE sku_id = %s FOR UPDATE", [b.pk])
    # pg_stat_activity is a per-transaction snapshot: watch from a separate autocommit session
    monitor = psycopg.connect(dsn, autocommit=True)
    worker = _worker(dsn)
    try:

        def blocked_pid():
            row = monitor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            return row[0] if row else None

        def blocked_or_exited():
            if worker.poll() is not None:
                raise AssertionError(f"worker exited early: {worker.stderr.read().decode()}")
            return blocked_pid() is not None

        _wait(
            blocked_or_exited,
            what="the worker to block on the stock row",
            debug=lambda: monitor.execute(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 80) "
                "FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchall(),
        )
        victim = blocked_pid()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
        holder.rollback()  # let the orphaned statement finish; its session then dies
    _wait(
        lambda: (
            monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [victim]
            ).fetchone()[0]
            == 0
        ),
        what="the killed worker's session to end",
    )
    holder.close()
    monitor.close()

    statuses = [Order.objects.get(pk=o.pk).status for o in orders]
    assert statuses == ["cancelled"] * 3 + ["pending_payment"] * 3
    assert commerce.stock_of(a).reserved == 4 and commerce.stock_of(b).reserved == 2
    # the killed task is stuck "running" and will never be retried by the queue itself
    assert DBTaskResult.objects.filter(status="RUNNING").count() == 1

    call_command(  # a fresh worker (in-process, to keep the test fast) runs what is ready
        "db_worker",
        "--batch",
        "--no-startup-delay",
        "--no-reload",
        "--queue-name",
        "*",
        verbosity=0,
    )
    assert expire_overdue_orders.call() == 1  # the sweep picks up the order of the dead task

    assert all(Order.objects.get(pk=o.pk).status == "cancelled" for o in orders)
    assert commerce.stock_of(a).reserved == 0 and commerce.stock_of(b).reserved == 0
    assert commerce.stock_of(a).on_hand == 20 and commerce.stock_of(b).on_hand == 20
    releases = StockMovement.objects.filter(reason=StockReason.RELEASE)
    assert sorted(releases.values_list("order_id", flat=True)) == sorted(o.pk for o in orders)
    assert sum(releases.values_list("reserved_delta", flat=True)) == -12
    assert expire_overdue_orders.call() == 0
