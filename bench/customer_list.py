"""Benchmark: the console customer list and its searches at a million customers.

    .venv/bin/python bench/customer_list.py                     # 1,000,000 customers, SQLite
    .venv/bin/python bench/customer_list.py --quick             # 100,000 customers (~1 minute)
    .venv/bin/python bench/customer_list.py --customers 1000000 \\
        --pg-url postgres://postgres@127.0.0.1:5432/siyu_customers_bench   # SQLite and PostgreSQL

Each database gets the real schema (`siyu migrate`) and N customers written straight into it in
large batches: encrypted phones with their keyed hashes and last four digits, phone and platform
identities, tags in groups, SMS consent for a fifth, a third served by clerks of four stores.
A populated database is reused when it already holds N customers (`--fresh` rebuilds it).

Then each console page is requested through Django's test client as a logged-in operator, store
manager or clerk — the whole request: row scope, filters, the bounded count, keyset page, rendering
— and the median of --repeat runs is reported in milliseconds. The last line printed is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "customer_list"

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
)
GIVEN = (
    "芳娜敏静丽艳娟霞秀玲桂英慧婷雪琳颖倩洁佳欣怡悦诗雨涵梦瑶晨曦月琪萱妍思蕾薇露伟强磊军洋勇杰涛"
)
CITIES = [
    ("上海", "上海"),
    ("北京", "北京"),
    ("浙江", "杭州"),
    ("广东", "广州"),
    ("广东", "深圳"),
    ("四川", "成都"),
    ("江苏", "南京"),
    ("江苏", "苏州"),
    ("湖北", "武汉"),
    ("重庆", "重庆"),
    ("陕西", "西安"),
    ("湖南", "长沙"),
]
SOURCES = [("tmall", 30), ("jd", 15), ("douyin", 15), ("store", 20), ("live", 8), ("wecom", 7)]
SOURCES += [("referral", 4), ("kol", 1)]
PREFIXES = ["135", "136", "137", "138", "139", "150", "151", "158", "159", "186", "187", "188"]


def log(message: str) -> None:
    print(message, flush=True)


# --- the parent: one worker process per database -------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="100,000 customers, 3 repeats")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="default: SQLite under bench/out")
    parser.add_argument("--pg-url", default=os.environ.get("SIYU_BENCH_DATABASE_URL", ""))
    parser.add_argument("--fresh", action="store_true", help="rebuild the data even if present")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.customers or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (3 if args.quick else 5)
    if args.worker:
        return worker(args.database_url, n, repeat, args.fresh)

    OUT.mkdir(parents=True, exist_ok=True)
    urls = [args.database_url or f"sqlite:///{OUT / f'customers-{n}.sqlite3'}"]
    if args.pg_url:
        urls.append(args.pg_url)
    results = {}
    for url in urls:
        cmd = [sys.executable, __file__, "--worker", "--database-url", url]
        cmd += ["--customers", str(n), "--repeat", str(repeat)] + (
            ["--fresh"] if args.fresh else []
        )
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
        lines = proc.stdout.strip().splitlines()
        for line in lines[:-1]:
            log(line)
        if proc.returncode != 0 or not lines:
            log(f"worker for {url.split('@')[-1]} failed (exit {proc.returncode})")
            return 1
        result = json.loads(lines[-1])
        results[result["database"]] = result
    summary = {
        "benchmark": "customer_list",
        "customers": n,
        "repeat": repeat,
        "databases": results,
        "slowest_page_ms": max(max(r["pages_ms"].values()) for r in results.values()),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


# --- the worker: one database ----------------------------------------------------------------------


def worker(url: str, n: int, repeat: int, fresh: bool) -> int:
    os.environ["DATABASE_URL"] = url
    os.environ["SIYU_DEBUG"] = "0"  # no query log piling up in memory
    os.environ.setdefault("SIYU_VAR_DIR", str(OUT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    sys.path.insert(0, str(ROOT / "src"))
    if url.startswith("postgres"):
        _create_pg_database(url)
    elif fresh:
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from siyu.customers.models import Customer

    started = time.perf_counter()
    if fresh or Customer.objects.count() != n:
        populate(n)
        populate_s = round(time.perf_counter() - started, 1)
        log(f"[{connection.vendor}] populated {n:,} customers in {populate_s}s")
    else:
        populate_s = None
        log(f"[{connection.vendor}] reusing {n:,} customers")
    pages = measure(n, repeat)
    print(
        json.dumps(
            {"database": connection.vendor, "populate_s": populate_s, "pages_ms": pages},
            ensure_ascii=False,
        )
    )
    return 0


def _create_pg_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _wipe() -> None:
    from django.db import connection

    from siyu.customers.models import (
        Consent,
        Customer,
        CustomerTag,
        Identity,
        Tag,
        TagGroup,
    )
    from siyu.staff.models import Store, User

    tables = [CustomerTag, Consent, Identity, Customer, Tag, TagGroup]
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"DELETE FROM {model._meta.db_table}")
    User.objects.filter(username__startswith="bench_").delete()
    Store.objects.filter(code__startswith="BENCH-").delete()


def populate(n: int) -> None:
    """Write n customers with raw multi-row inserts: this is set-up, not what is measured."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from siyu.core import crypto
    from siyu.customers.identity import identity_hash
    from siyu.customers.models import (
        Consent,
        Customer,
        CustomerTag,
        Identity,
        Tag,
        TagGroup,
    )
    from siyu.staff.models import Store, User

    _wipe()
    rng = random.Random(20261123)
    password = make_password("bench-password-1")
    stores = [
        Store.objects.create(code=f"BENCH-{i}", name=f"基准门店{i}", city=CITIES[i][1])
        for i in range(4)
    ]
    User.objects.create(username="bench_operator", role="operator", password=password)
    for i, store in enumerate(stores):
        User.objects.create(
            username=f"bench_manager{i}", role="store_manager", store=store, password=password
        )
    clerks = [
        User.objects.create(
            username=f"bench_clerk{i}", role="clerk", store=stores[i % 4], password=password
        )
        for i in range(12)
    ]
    skin = TagGroup.objects.create(name="肤质", exclusive=True)
    interest = TagGroup.objects.create(name="兴趣")
    skin_tags = [
        Tag.objects.create(group=skin, name=x) for x in ("干皮", "油皮", "混合皮", "敏感肌")
    ]
    interest_tags = [
        Tag.objects.create(group=interest, name=x) for x in ("美白", "抗老", "补水", "防晒")
    ]
    rare = Tag.objects.create(group=interest, name="黑卡VIP")

    ops = connection.ops
    now = datetime.now(UTC)
    source_names = [s for s, _w in SOURCES]
    source_weights = [w for _s, w in SOURCES]
    c_table = Customer._meta.db_table
    columns = (
        "id, name, phone, phone_hash, phone_last4, gender, province, city, source,"
        " source_detail, first_seen_at, owner_kind, owner_id, owner_user_id, store_id, in_pool,"
        " created_at, updated_at"
    )
    customer_sql = f"INSERT INTO {c_table} ({columns}) VALUES "
    identity_sql = (
        f"INSERT INTO {Identity._meta.db_table} (customer_id, kind, value_hash, value, source,"
        " created_at) VALUES "
    )
    tag_sql = (
        f"INSERT INTO {CustomerTag._meta.db_table} (customer_id, tag_id, by_rule, created_at,"
        " created_by) VALUES "
    )
    consent_sql = (
        f"INSERT INTO {Consent._meta.db_table} (customer_id, channel, granted, source,"
        " updated_at) VALUES "
    )
    max_params = 30_000 if connection.vendor == "sqlite" else 60_000

    def insert(sql: str, rows: list[tuple], width: int) -> None:
        if not rows:
            return
        batch = max_params // width
        group = "(" + ",".join(["%s"] * width) + ")"
        with connection.cursor() as cursor:
            for i in range(0, len(rows), batch):
                chunk = rows[i : i + batch]
                cursor.execute(
                    sql + ",".join([group] * len(chunk)), [v for row in chunk for v in row]
                )

    used: set[str] = set()
    with transaction.atomic():
        for start in range(1, n + 1, 50_000):
            customers, identities, tags, consents = [], [], [], []
            for cid in range(start, min(start + 50_000, n + 1)):
                # ids grow with time, as they do in a real pool
                seen = now - timedelta(days=730 * (1 - cid / n), minutes=rng.randrange(1440))
                at = ops.adapt_datetimefield_value(seen)
                source = rng.choices(source_names, source_weights)[0]
                province, city = rng.choice(CITIES)
                phone = ""
                if rng.random() < 0.9:
                    while True:
                        phone = rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}"
                        if phone not in used:
                            used.add(phone)
                            break
                clerk = rng.choice(clerks) if rng.random() < 0.3 else None
                name = (
                    rng.choice(SURNAMES)
                    + rng.choice(GIVEN)
                    + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
                )
                phone_hash = identity_hash("phone", phone) if phone else ""
                customers.append(
                    (
                        cid,
                        name,
                        crypto.encrypt(phone) or "",
                        phone_hash,
                        phone[-4:],
                        "f" if rng.random() < 0.8 else "m",
                        province,
                        city,
                        source,
                        "",
                        at,
                        "clerk" if clerk else "",
                        clerk.pk if clerk else None,
                        clerk.pk if clerk else None,
                        clerk.store_id if clerk else None,
                        False,
                        at,
                        at,
                    )
                )
                if phone:
                    identities.append((cid, "phone", phone_hash, crypto.encrypt(phone), source, at))
                if source == "tmall":
                    buyer = f"tb{cid:09d}"
                    identities.append(
                        (
                            cid,
                            "tmall_buyer",
                            identity_hash("tmall_buyer", buyer),
                            crypto.encrypt(buyer),
                            source,
                            at,
                        )
                    )
                if rng.random() < 0.4:
                    tags.append((cid, rng.choice(skin_tags).pk, False, at, "bench"))
                if rng.random() < 0.6:
                    tags.append((cid, rng.choice(interest_tags).pk, False, at, "bench"))
                if rng.random() < 0.001:
                    tags.append((cid, rare.pk, False, at, "bench"))
                if rng.random() < 0.2:
                    consents.append((cid, "sms", True, "门店登记", at))
            insert(customer_sql, customers, 18)
            insert(identity_sql, identities, 6)
            insert(tag_sql, tags, 5)
            insert(consent_sql, consents, 5)
            log(f"  … {min(start + 49_999, n):,} customers written")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{c_table}', 'id'), {n})")
            # what autovacuum does soon after a big load anyway
            cursor.execute("VACUUM ANALYZE")
        # SQLite is left without ANALYZE statistics, as a database filled by imports would be


def measure(n: int, repeat: int) -> dict[str, float]:
    from django.test import Client

    from siyu.customers.models import Customer, Tag
    from siyu.staff.models import User

    sample = Customer.objects.filter(pk__gte=n // 2).exclude(phone_hash="").order_by("pk").first()
    phone = sample.phone
    users = {
        "operator": User.objects.get(username="bench_operator"),
        "manager": User.objects.get(username="bench_manager0"),
        "clerk": User.objects.get(username="bench_clerk0"),
    }
    tags = {t.name: t.pk for t in Tag.objects.all()}
    clients = {}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    cases = [
        ("list_first_page", "operator", "/console/customers/", {}),
        ("list_deep_cursor", "operator", "/console/customers/", {"after": n // 2}),
        ("search_phone_exact", "operator", "/console/customers/", {"q": phone}),
        ("search_last4", "operator", "/console/customers/", {"q": phone[-4:]}),
        ("search_name_surname", "operator", "/console/customers/", {"q": "王"}),
        ("search_name_full", "operator", "/console/customers/", {"q": sample.name}),
        ("search_platform_id", "operator", "/console/customers/", {"q": f"tb{n // 3:09d}"}),
        ("filter_source_rare", "operator", "/console/customers/", {"source": "kol"}),
        ("filter_tag_common", "operator", "/console/customers/", {"tag": tags["美白"]}),
        ("filter_tag_rare", "operator", "/console/customers/", {"tag": tags["黑卡VIP"]}),
        (
            "filter_combined",
            "operator",
            "/console/customers/",
            {"source": "tmall", "tag": tags["干皮"], "city": "杭州", "consent": "sms"},
        ),
        (
            "filter_first_seen_month",
            "operator",
            "/console/customers/",
            {"since": "2025-06-01", "until": "2025-06-30"},
        ),
        ("store_manager_list", "manager", "/console/customers/", {}),
        ("store_manager_search", "manager", "/console/customers/", {"q": "李"}),
        ("clerk_list", "clerk", "/console/customers/", {}),
        ("clerk_search_last4", "clerk", "/console/customers/", {"q": "1234"}),
        ("api_list", "operator", "/api/v1/customers/", {"size": 50}),
        ("api_search_phone", "operator", "/api/v1/customers/", {"q": phone}),
        ("customer_detail", "operator", f"/console/customers/{sample.pk}/", {}),
    ]
    results: dict[str, float] = {}
    for name, role, url, params in cases:
        client = clients[role]
        response = client.get(url, params)  # warm-up (and check it works)
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code}")
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url, params)
            timings.append((time.perf_counter() - started) * 1000)
        results[name] = round(statistics.median(timings), 1)
        log(f"  {name:<26} {results[name]:>8.1f} ms")
    from django.core.cache import cache

    from siyu.core.access import Actor
    from siyu.customers.services import pool_figures

    for role in ("operator", "manager", "clerk"):
        timings = []
        for _ in range(repeat):
            cache.clear()
            started = time.perf_counter()
            pool_figures(Actor.for_user(users[role]))
            timings.append((time.perf_counter() - started) * 1000)
        name = f"home_cards_{role}_uncached"
        results[name] = round(statistics.median(timings), 1)
        log(f"  {name:<26} {results[name]:>8.1f} ms")
    return results


if __name__ == "__main__":
    sys.exit(main())
