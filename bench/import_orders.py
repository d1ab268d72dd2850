"""Benchmark: import a 1,000,000-row Tmall-style order export on SQLite and PostgreSQL, and the
same import done with django-import-export, on the same file and machine, in one run.

    .venv/bin/python bench/import_orders.py            # 1M rows (several minutes in all)
    .venv/bin/python bench/import_orders.py --quick    # ~1 minute: 100k rows
    options: --rows N, --die-rows N, --pg-url postgres://..., --no-postgres, --keep

The export looks like 千牛's order report with item rows: GBK, ="..." ids, masked and clear phones,
orders split over several item rows, repeat buyers, a few bad rows. Each database gets a fresh
schema (`siyu migrate`), then the file is imported through `siyu import-orders`' code path and timed.
django-import-export runs a faithful resource (bench/die_resource.py: same customers, orders, lines)
on the first --die-rows rows of the same file; its time is extrapolated linearly to the full file
(said so in the output), and its outcome is checked against siyu's importer on that same subset.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PYTHON = sys.executable
DEFAULT_PG = os.environ.get(
    "SIYU_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/siyu_imports_bench"
)

HEADER = [
    "订单编号",
    "子订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "总金额",
    "买家实际支付金额",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址",
    "运送方式",
    "联系电话",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "商品属性",
    "价格",
    "购买数量",
    "商家编码",
    "宝贝种类",
    "宝贝总数量",
    "店铺名称",
    "退款金额",
    "确认收货时间",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉兰萍红梅琳晨雪婷宇浩然思雨欣怡"
REGIONS = [
    ("浙江省", "杭州市", ["西湖区", "拱墅区", "滨江区", "余杭区"]),
    ("浙江省", "宁波市", ["海曙区", "鄞州区"]),
    ("江苏省", "南京市", ["玄武区", "鼓楼区", "江宁区"]),
    ("江苏省", "苏州市", ["姑苏区", "工业园区"]),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区"]),
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区"]),
    ("上海", "上海市", ["浦东新区", "徐汇区", "静安区"]),
    ("北京", "北京市", ["朝阳区", "海淀区", "东城区"]),
    ("四川省", "成都市", ["武侯区", "锦江区", "高新区"]),
    ("湖北省", "武汉市", ["洪山区", "江汉区"]),
]
PRODUCTS = [
    ("玻尿酸补水精华液 30ml", ["规格:30ml", "规格:50ml"], 15900),
    ("氨基酸洁面乳 温和清洁 120g", ["规格:120g"], 6900),
    ("烟酰胺美白面膜 10片装", ["片数:10片", "片数:20片"], 9900),
    ("防晒霜 SPF50+ PA++++ 50ml", ["规格:50ml"], 12800),
    (
        "丝绒哑光口红 经典色",
        ["颜色分类:#999 正红", "颜色分类:#520 枫叶红", "颜色分类:#888 豆沙"],
        32000,
    ),
    ("修护晚霜 45g 熬夜必备", ["规格:45g"], 45800),
    ("卸妆水 敏感肌可用 500ml", ["规格:500ml", "规格:250ml"], 8900),
    ("洗发水 去屑控油 750ml", ["规格:750ml"], 5990),
    ("身体乳 保湿滋润 400ml", ["香型:白茶", "香型:玫瑰"], 7900),
    ("护手霜礼盒 3支装", ["套餐:礼盒装"], 4900),
]
STATUSES = [
    ("交易成功", 70),
    ("卖家已发货，等待买家确认", 10),
    ("买家已付款，等待卖家发货", 8),
    ("交易关闭", 7),
    ("等待买家付款", 2),
    ("付款以前，卖家或买家主动关闭交易", 3),
]


def _status_picker(rng: random.Random):
    words = [w for w, _ in STATUSES]
    weights = [n for _, n in STATUSES]
    return lambda: rng.choices(words, weights)[0]


def generate(path: Path, rows: int, seed: int = 2026) -> dict:
    """Write a Tmall-style GBK CSV with about `rows` data rows; return what it holds."""
    rng = random.Random(seed)
    pick_status = _status_picker(rng)
    buyers_n = max(10, rows // 3)
    buyers = []
    for i in range(buyers_n):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        province, city, districts = rng.choice(REGIONS)
        address = (
            f"{province} {city} {rng.choice(districts)} 文{rng.randrange(1, 99)}路"
            f" {rng.randrange(1, 999)}号{rng.randrange(1, 30)}幢{rng.randrange(101, 2999)}室"
        )
        buyers.append((f"tb{seed}{i:07d}", name, phone, address, rng.random() < 0.35))
    # a few households share a phone: union-find joins those buyers
    for _ in range(buyers_n // 100):
        a, b = rng.randrange(buyers_n), rng.randrange(buyers_n)
        buyers[b] = (buyers[b][0], buyers[b][1], buyers[a][2], buyers[b][3], buyers[b][4])
    start = datetime(2024, 1, 1)
    span = 700 * 86400
    order_seq = 3800000000000000000 + seed * 10**9
    written = bad = orders = 0
    with path.open("w", encoding="gbk", newline="") as fh:
        fh.write(",".join(HEADER) + "\r\n")
        while written < rows:
            order_seq += rng.randrange(1, 50)
            orders += 1
            # repeat purchase: a fifth of the buyers place most of the repeat orders
            pool = buyers_n if rng.random() < 0.6 else buyers_n // 5
            buyer = buyers[rng.randrange(pool)]
            nick, name, phone, address, masked = buyer
            items = 1 if rng.random() < 0.75 else rng.choice((2, 2, 3))
            lines = []
            for _ in range(items):
                title, specs, price = rng.choice(PRODUCTS)
                lines.append((title, rng.choice(specs), price, rng.choice((1, 1, 1, 2, 3))))
            goods = sum(p * q for _, _, p, q in lines)
            shipping = 0 if goods >= 9900 else 1000
            total = goods + shipping
            discount = rng.choice((0, 0, 0, 500, 1000, goods // 10))
            paid_amount = total - min(discount, total)
            status = pick_status()
            created = start + timedelta(seconds=rng.randrange(span))
            paid_at = created + timedelta(seconds=rng.randrange(30, 900))
            unpaid = status in ("等待买家付款", "付款以前，卖家或买家主动关闭交易")
            refund = paid_amount if status == "交易关闭" else 0
            confirm = (
                paid_at + timedelta(days=rng.randrange(3, 12)) if status == "交易成功" else None
            )
            qty_total = sum(q for *_, q in lines)
            for n, (title, spec, price, qty) in enumerate(lines, start=1):
                cells = [
                    f'="{order_seq}"',
                    f'="{order_seq * 10 + n}"',
                    nick,
                    f"{phone[:3]}****{phone[-4:]}",
                    f"{goods / 100:.2f}",
                    f"{shipping / 100:.2f}",
                    f"{total / 100:.2f}",
                    "0.00" if unpaid else f"{paid_amount / 100:.2f}",
                    status,
                    "",
                    (name[0] + "**") if masked else name,
                    address if not masked else address.split(" 文")[0] + " ***",
                    "快递",
                    "",
                    f"{phone[:3]}****{phone[-4:]}" if masked else f"'{phone}",
                    created.strftime("%Y-%m-%d %H:%M:%S"),
                    "" if unpaid else paid_at.strftime("%Y-%m-%d %H:%M:%S"),
                    title,
                    spec,
                    f"{price / 100:.2f}",
                    str(qty),
                    f"SKU{zlib.crc32((title + spec).encode()) % 100000:05d}",
                    str(len(lines)),
                    str(qty_total),
                    "siyu旗舰店",
                    f"{refund / 100:.2f}",
                    confirm.strftime("%Y-%m-%d %H:%M:%S") if confirm else "",
                ]
                if rng.random() < 0.0005:  # a broken row now and then
                    bad += 1
                    cells[rng.choice((0, 15, 7))] = rng.choice(("", "2024-13-45 25:61:00", "abc"))
                fh.write(",".join(_csv(c) for c in cells) + "\r\n")
                written += 1
    return {"rows": written, "orders": orders, "bad_rows": bad}


def _csv(cell: str) -> str:
    if "," in cell or '"' in cell:
        return '"' + cell.replace('"', '""') + '"'
    return cell


def subset(src: Path, dst: Path, rows: int) -> int:
    """The first `rows` data rows of `src`, not cutting an order in two."""
    written = 0
    last = None
    with (
        src.open(encoding="gbk", newline="") as fin,
        dst.open("w", encoding="gbk", newline="") as fout,
    ):
        fout.write(fin.readline())
        for line in fin:
            order = line.split(",", 1)[0]
            if written >= rows and order != last:
                break
            fout.write(line)
            written += 1
            last = order
    return written


# --- child processes: one database each -------------------------------------------------------------


def _env(db_url: str, var_dir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        SIYU_VAR_DIR=str(var_dir),
        SIYU_DEBUG="0",
        SECRET_KEY="bench-not-secret",
        SIYU_DATA_KEY="bench-data-key-not-secret",
        DJANGO_SETTINGS_MODULE="siyu.settings",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    )
    env.pop("SIYU_TEST_DATABASE_URL", None)
    return env


def _fresh_postgres(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _child(mode: str, file: Path, db_url: str, var_dir: Path) -> dict:
    var_dir.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [PYTHON, __file__, "--child", mode, "--file", str(file)],
        env=_env(db_url, var_dir),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"{mode} run failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main(mode: str, file: Path) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    if mode == "siyu":
        from siyu.core.access import Actor
        from siyu.imports import services

        started, cpu = time.perf_counter(), time.process_time()
        job = services.import_path(file, preset="tmall", actor=Actor.system("bench"))
        seconds = time.perf_counter() - started
        result = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "report": services.report(job, include_rejected=False),
        }
    else:
        from bench.die_resource import import_with_django_import_export

        started, cpu = time.perf_counter(), time.process_time()
        result = import_with_django_import_export(file)
        seconds = time.perf_counter() - started
        result["seconds"] = round(seconds, 2)
        result["cpu_seconds"] = round(time.process_time() - cpu, 2)
    result["vendor"] = connection.vendor
    result["outcome"] = _outcome()
    print(json.dumps(result, ensure_ascii=False))


def _outcome() -> dict:
    """What the import left in the database, to compare two importers on the same file."""
    import hashlib

    from siyu.customers.models import Customer, Identity, Touch
    from siyu.orders.models import Order, OrderLine

    digest = hashlib.sha256()
    for row in (
        Order.objects.order_by("external_id")
        .values_list(
            "external_id",
            "status",
            "goods_amount_fen",
            "shipping_fen",
            "payable_fen",
            "paid_fen",
            "refunded_fen",
            "placed_at",
            "paid_at",
            "customer__identities__kind",
        )
        .distinct()
        .iterator(chunk_size=10000)
    ):
        digest.update(repr(row).encode())
    lines = hashlib.sha256()
    for row in (
        OrderLine.objects.order_by("order__external_id", "line_no")
        .values_list(
            "order__external_id",
            "line_no",
            "product_title",
            "spec_text",
            "quantity",
            "unit_price_fen",
            "amount_fen",
            "paid_fen",
            "refunded_fen",
        )
        .iterator(chunk_size=10000)
    ):
        lines.update(repr(row).encode())
    return {
        "orders": Order.objects.count(),
        "lines": OrderLine.objects.count(),
        "customers": Customer.objects.count(),
        "identities": Identity.objects.count(),
        "touches": Touch.objects.count(),
        "orders_sha": digest.hexdigest()[:16],
        "lines_sha": lines.hexdigest()[:16],
    }


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~1-minute run (100k rows)")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--die-rows", type=int)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, Path(args.file))
        return

    rows = args.rows or (100_000 if args.quick else 1_000_000)
    die_rows = args.die_rows or (2_000 if args.quick else 20_000)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="import-bench-", dir=OUT))
    export = work / f"tmall-{rows}.csv"
    t0 = time.perf_counter()
    info = generate(export, rows)
    print(
        f"generated {export.name}: {info['rows']:,} rows, {info['orders']:,} orders, "
        f"{info['bad_rows']} bad rows, {export.stat().st_size / 1e6:.0f} MB "
        f"in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    # On a shared machine wall time depends on the neighbours; the importer's own CPU time (its
    # process, all threads; not the PostgreSQL server's) is printed beside it, with the load.
    result: dict = {
        "rows": info["rows"],
        "orders_in_file": info["orders"],
        "load_average_at_start": round(os.getloadavg()[0], 1),
    }

    sqlite = _child("siyu", export, f"sqlite:///{work / 'siyu.sqlite3'}", work / "var-sqlite")
    print(f"siyu on SQLite:     {sqlite['seconds']:.1f} s  {sqlite['report']}", flush=True)
    result["seconds_sqlite"] = sqlite["seconds"]
    result["rows_per_s_sqlite"] = round(info["rows"] / sqlite["seconds"])
    result["cpu_seconds_sqlite"] = sqlite["cpu_seconds"]
    if not args.no_postgres:
        _fresh_postgres(args.pg_url)
        pg = _child("siyu", export, args.pg_url, work / "var-pg")
        print(f"siyu on PostgreSQL: {pg['seconds']:.1f} s  {pg['report']}", flush=True)
        result["seconds_postgresql"] = pg["seconds"]
        result["rows_per_s_postgresql"] = round(info["rows"] / pg["seconds"])
        result["cpu_seconds_postgresql_client"] = pg["cpu_seconds"]
        if pg["outcome"] != sqlite["outcome"]:
            raise SystemExit(
                f"SQLite and PostgreSQL outcomes differ: {sqlite['outcome']} {pg['outcome']}"
            )

    # django-import-export on the head of the same file, and siyu on that same head to compare
    head = work / f"tmall-head-{die_rows}.csv"
    head_rows = subset(export, head, die_rows)
    die = _child("die", head, f"sqlite:///{work / 'die.sqlite3'}", work / "var-die")
    mine = _child("siyu", head, f"sqlite:///{work / 'siyu-head.sqlite3'}", work / "var-head")
    same = die["outcome"] == mine["outcome"]
    print(
        f"django-import-export on SQLite: {die['seconds']:.1f} s for {head_rows:,} rows; "
        f"siyu: {mine['seconds']:.2f} s on the same rows; same outcome: {same}",
        flush=True,
    )
    if not same:
        raise SystemExit(f"outcomes differ: die={die['outcome']} siyu={mine['outcome']}")
    die_full = die["seconds"] * info["rows"] / head_rows
    result["seconds_django_import_export"] = round(die_full, 1)
    result["django_import_export_rows_run"] = head_rows
    result["django_import_export_extrapolated"] = head_rows < info["rows"]
    result["django_import_export_note"] = (
        f"ran on the first {head_rows:,} rows on SQLite ({die['seconds']:.1f} s), "
        f"extrapolated linearly to {info['rows']:,} rows"
    )
    result["ratio_vs_django_import_export"] = round(die_full / sqlite["seconds"], 1)
    result["ratio_same_rows"] = round(die["seconds"] / mine["seconds"], 1)
    result["ratio_same_rows_cpu"] = round(die["cpu_seconds"] / mine["cpu_seconds"], 1)
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    if not args.keep:
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        work.rmdir()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    main()
