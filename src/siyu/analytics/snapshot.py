"""The columnar snapshot: customers, orders, lines, tags, consents and scores in one DuckDB file.

Scoring, segments and dashboards read this file instead of the main database, so their scans over
millions of rows never load the transactional database. It is refreshed incrementally:

* ``customers``, ``orders``: rows whose ``updated_at`` is at or after the stored watermark (minus
  an overlap for transactions that committed late) replace their previous version by ``id``;
* ``order_lines``: the lines of those orders replace the order's previous lines (whoever changes a
  line saves its order, which moves ``orders.updated_at``);
* ``customer_tags``: new ``id``s are appended and deleted ones removed (an anti-join on ids);
* ``tags``, ``consents``: small, copied whole.

Readers never wait for a refresh: the writer copies the current file, refreshes the copy and
atomically renames it over the original (``os.replace``); a reader that opened the old file keeps
reading it. Writers are serialised by a lock file. Each replacement publishes ``SnapshotReplaced``
(``events.py``) so derived data, such as the segment index, can follow. Open the snapshot with ``connect()`` (read-only).
The schema is documented in docs/analytics.md; all timestamps are naive UTC, ``local_day(ts)``
gives the business day in the configured time zone.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist

from . import conf
from .source import INT_NULL, TEXT_NULL_CODE, Col, read_arrow, vendor

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DUCK_TYPES = {
    "int": "BIGINT",
    "text": "VARCHAR",
    "ts": "TIMESTAMP",
    "date": "DATE",
    "bool": "BOOLEAN",
    "float": "DOUBLE",
}


class SnapshotMissing(Exception):
    """No snapshot has been built yet (run `siyu score` or `siyu snapshot`)."""

    code = "snapshot_missing"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Col, ...]
    mode: str  # updated_at | lines | ids | full
    source: str = ""  # FROM clause on the main database (built lazily for model tables)


def _db_table(label: str) -> str:
    from django.apps import apps

    return apps.get_model(label)._meta.db_table


def category_join() -> tuple[list[str], str, str] | None:
    """Joins from order lines (alias ``l``) to the catalogue's category, or None when the catalogue
    does not (yet) map lines to categories. The path is SIYU_ANALYTICS_CATEGORY_PATH, Django lookup
    syntax over foreign keys ("sku__product__category"); the category's ``name`` (or ``title``)
    becomes ``category_name``."""
    from django.apps import apps

    model = apps.get_model("orders.OrderLine")
    alias, joins = "l", []
    path = [p for p in conf.category_path().split("__") if p]
    if not path:
        return None
    for i, name in enumerate(path):
        try:
            f = model._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if not getattr(f, "many_to_one", False) or f.related_model is None:
            return None
        target = f.related_model
        join_alias = f"cat{i}"
        joins.append(
            f"LEFT JOIN {target._meta.db_table} {join_alias} "
            f"ON {join_alias}.{target._meta.pk.column} = {alias}.{f.column}"
        )
        alias, model = join_alias, target
    label_field = next(
        (n for n in ("name", "title") if _has_field(model, n)),
        None,
    )
    if label_field is None:
        return None
    label_col = model._meta.get_field(label_field).column
    return joins, f"{alias}.{model._meta.pk.column}", f"{alias}.{label_col}"


def _has_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def tables() -> list[Table]:
    cust, order, line = (
        _db_table("customers.Customer"),
        _db_table("orders.Order"),
        _db_table("orders.OrderLine"),
    )
    tag, group, ctag, consent = (
        _db_table("customers.Tag"),
        _db_table("customers.TagGroup"),
        _db_table("customers.CustomerTag"),
        _db_table("customers.Consent"),
    )
    cat = category_join()
    line_source = f"{line} l JOIN {order} o ON o.id = l.order_id"
    if cat:
        line_source += " " + " ".join(cat[0])
    return [
        Table(
            "customers",
            (
                Col("id", "int", "c.id"),
                Col("referred_by_id", "int", "c.referred_by_id"),
                Col("merged_into_id", "int", "c.merged_into_id"),
                Col("source", "text", "c.source"),
                Col("source_detail", "text", "c.source_detail"),
                Col("gender", "text", "c.gender"),
                Col("birthday", "date", "c.birthday"),
                Col("province", "text", "c.province"),
                Col("city", "text", "c.city"),
                Col("first_seen_at", "ts", "c.first_seen_at"),
                Col("owner_kind", "text", "c.owner_kind"),
                Col("owner_id", "int", "c.owner_id"),
                Col("owner_user_id", "int", "c.owner_user_id"),
                Col("store_id", "int", "c.store_id"),
                Col("in_pool", "bool", "c.in_pool"),
                Col("opted_out_at", "ts", "c.opted_out_at"),
                Col("erased_at", "ts", "c.erased_at"),
                Col("created_at", "ts", "c.created_at"),
                Col("updated_at", "ts", "c.updated_at"),
            ),
            "updated_at",
            f"{cust} c",
        ),
        Table(
            "orders",
            (
                Col("id", "int", "o.id"),
                Col("number", "text", "o.number"),
                Col("customer_id", "int", "o.customer_id"),
                Col("channel", "text", "o.channel"),
                Col("platform", "text", "o.platform"),
                Col("status", "text", "o.status"),
                Col("store_id", "int", "o.store_id"),
                Col("credited_kind", "text", "o.credited_kind"),
                Col("credited_id", "int", "o.credited_id"),
                Col("credited_user_id", "int", "o.credited_user_id"),
                Col("goods_amount_fen", "int", "o.goods_amount_fen"),
                Col("discount_fen", "int", "o.discount_fen"),
                Col("shipping_fen", "int", "o.shipping_fen"),
                Col("payable_fen", "int", "o.payable_fen"),
                Col("paid_fen", "int", "o.paid_fen"),
                Col("refunded_fen", "int", "o.refunded_fen"),
                Col("cost_fen", "int", "o.cost_fen"),
                Col("placed_at", "ts", "o.placed_at"),
                Col("paid_at", "ts", "o.paid_at"),
                Col("shipped_at", "ts", "o.shipped_at"),
                Col("completed_at", "ts", "o.completed_at"),
                Col("cancelled_at", "ts", "o.cancelled_at"),
                Col("receiver_province", "text", "o.receiver_province"),
                Col("receiver_city", "text", "o.receiver_city"),
                Col("created_at", "ts", "o.created_at"),
                Col("updated_at", "ts", "o.updated_at"),
            ),
            "updated_at",
            f"{order} o",
        ),
        Table(
            "order_lines",
            (
                Col("id", "int", "l.id"),
                Col("order_id", "int", "l.order_id"),
                Col("line_no", "int", "l.line_no"),
                Col("product_title", "text", "l.product_title"),
                Col("spec_text", "text", "l.spec_text"),
                Col("external_sku", "text", "l.external_sku"),
                Col("quantity", "int", "l.quantity"),
                Col("unit_price_fen", "int", "l.unit_price_fen"),
                Col("amount_fen", "int", "l.amount_fen"),
                Col("discount_fen", "int", "l.discount_fen"),
                Col("paid_fen", "int", "l.paid_fen"),
                Col("cost_fen", "int", "l.cost_fen"),
                Col("refunded_fen", "int", "l.refunded_fen"),
                Col("refunded_quantity", "int", "l.refunded_quantity"),
                Col("category_id", "int", cat[1] if cat else "NULL"),
                Col("category_name", "text", cat[2] if cat else "NULL"),
                Col("order_updated_at", "ts", "o.updated_at"),
            ),
            "lines",
            line_source,
        ),
        Table(
            "tags",
            (
                Col("id", "int", "t.id"),
                Col("group_id", "int", "t.group_id"),
                Col("group_name", "text", "g.name"),
                Col("group_exclusive", "bool", "g.exclusive"),
                Col("name", "text", "t.name"),
            ),
            "full",
            f"{tag} t JOIN {group} g ON g.id = t.group_id",
        ),
        Table(
            "customer_tags",
            (
                Col("id", "int", "ct.id"),
                Col("customer_id", "int", "ct.customer_id"),
                Col("tag_id", "int", "ct.tag_id"),
                Col("by_rule", "bool", "ct.by_rule"),
                Col("created_at", "ts", "ct.created_at"),
            ),
            "ids",
            f"{ctag} ct",
        ),
        Table(
            "consents",
            (
                Col("id", "int", "cs.id"),
                Col("customer_id", "int", "cs.customer_id"),
                Col("channel", "text", "cs.channel"),
                Col("granted", "bool", "cs.granted"),
                Col("updated_at", "ts", "cs.updated_at"),
            ),
            "full",
            f"{consent} cs",
        ),
    ]


# --- files and locks --------------------------------------------------------------------------------


def snapshot_path() -> Path:
    return conf.analytics_dir() / "snapshot.duckdb"


def connect() -> duckdb.DuckDBPyConnection:
    """A read-only connection to the current snapshot (open one per request or job)."""
    path = snapshot_path()
    if not path.exists():
        raise SnapshotMissing(f"no snapshot at {path}")
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con


@contextmanager
def writer(*, rebuild: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to a working copy that replaces the snapshot when the block
    succeeds (and is thrown away when it fails)."""
    directory = conf.analytics_dir()
    directory.mkdir(parents=True, exist_ok=True)
    current = snapshot_path()
    work = directory / "snapshot.next.duckdb"
    with open(directory / "snapshot.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in (work, work.with_name(work.name + ".wal")):
            stale.unlink(missing_ok=True)
        if current.exists() and not rebuild:
            shutil.copyfile(current, work)
        con = duckdb.connect(str(work))
        try:
            con.execute("SET TimeZone = 'UTC'")
            _ensure_schema(con)
            yield con
            con.execute("CHECKPOINT")
            con.close()
            os.replace(work, current)
        except BaseException:
            con.close()
            work.unlink(missing_ok=True)
            raise
    # derived data (the segment index, dashboards) follows the new version after commit
    from siyu.core import events

    from .events import SnapshotReplaced

    events.publish(SnapshotReplaced(str(current)))


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR);"
        "CREATE TABLE IF NOT EXISTS _sync (name VARCHAR PRIMARY KEY, watermark VARCHAR,"
        " rows BIGINT, refreshed_at TIMESTAMP, seconds DOUBLE)"
    )
    version = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchall()
    if version and int(version[0][0]) != SCHEMA_VERSION:
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall():
            con.execute(f'DROP TABLE "{name}"')
        con.execute(
            "CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR);"
            "CREATE TABLE _sync (name VARCHAR PRIMARY KEY, watermark VARCHAR, rows BIGINT,"
            " refreshed_at TIMESTAMP, seconds DOUBLE)"
        )
    con.execute("INSERT OR REPLACE INTO _meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    for table in tables():
        cols = ", ".join(f"{c.name} {DUCK_TYPES[c.kind]}" for c in table.columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS {table.name} ({cols})")
    from .scoring import SCORE_COLUMNS

    cols = ", ".join(f"{name} {kind}" for name, kind in SCORE_COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS scores ({cols})")
    con.execute(
        "CREATE TABLE IF NOT EXISTS category_cycles (category_id BIGINT, category_name VARCHAR,"
        " cycle_days DOUBLE, intervals BIGINT, customers BIGINT)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS customer_category_cycles (customer_id BIGINT,"
        " category_id BIGINT, category_name VARCHAR, last_purchase_on DATE, cycle_days DOUBLE,"
        " next_purchase_on DATE, replenishment_due BOOLEAN)"
    )
    offset = fixed_utc_offset_seconds()
    if offset is not None:
        # plain arithmetic: an order of magnitude faster than a time-zone lookup per row
        con.execute(
            f"CREATE OR REPLACE MACRO local_day(ts) AS CAST(ts + INTERVAL {offset} SECOND AS DATE)"
        )
    else:
        tz = str(settings.TIME_ZONE).replace("'", "")
        con.execute(
            "CREATE OR REPLACE MACRO local_day(ts) AS "
            f"CAST(timezone('{tz}', CAST(ts AS TIMESTAMPTZ)) AS DATE)"
        )
    # what scoring counts as a purchase: paid, not cancelled or refunded, money kept
    con.execute(
        "CREATE OR REPLACE VIEW purchases AS "
        "SELECT o.*, o.paid_fen - o.refunded_fen AS net_fen, local_day(o.paid_at) AS day "
        "FROM orders o WHERE o.paid_at IS NOT NULL "
        "AND o.status NOT IN ('cancelled', 'refunded') AND o.paid_fen > o.refunded_fen"
    )


def fixed_utc_offset_seconds() -> int | None:
    """The time zone's UTC offset when it has not changed since 2000 (Asia/Shanghai: +8 h, no
    daylight saving since 1991), else None (then local days go through a time-zone lookup)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(str(settings.TIME_ZONE))
    offsets = {
        datetime(year, month, 15, 12, tzinfo=zone).utcoffset()
        for year in range(2000, 2041)
        for month in (1, 4, 7, 10)
    }
    if len(offsets) != 1:
        return None
    return int(offsets.pop().total_seconds())


# --- refresh ----------------------------------------------------------------------------------------


@dataclass
class RefreshReport:
    tables: dict = field(default_factory=dict)
    seconds: float = 0.0

    def rows_changed(self) -> int:
        return sum(t["rows_read"] for t in self.tables.values())


def refresh(con: duckdb.DuckDBPyConnection, *, full: bool = False) -> RefreshReport:
    """Bring the snapshot's copies of the main tables up to date (see the module docstring)."""
    report = RefreshReport()
    started = time.perf_counter()
    now = datetime.utcnow()
    for table in tables():
        t0 = time.perf_counter()
        state = con.execute("SELECT watermark FROM _sync WHERE name = ?", [table.name]).fetchall()
        watermark = None if (full or not state) else state[0][0]
        read, new_watermark = _refresh_table(con, table, watermark)
        seconds = time.perf_counter() - t0
        total = con.execute(f"SELECT count(*) FROM {table.name}").fetchall()[0][0]
        con.execute(
            "INSERT OR REPLACE INTO _sync VALUES (?, ?, ?, ?, ?)",
            [table.name, new_watermark, total, now, seconds],
        )
        report.tables[table.name] = {
            "rows_read": read,
            "rows": total,
            "seconds": round(seconds, 3),
            "incremental": watermark is not None,
        }
    report.seconds = time.perf_counter() - started
    log.info("snapshot refreshed in %.1fs: %s", report.seconds, report.tables)
    return report


def _select(table: Table, where: str = "") -> str:
    v = vendor()
    cols = ", ".join(c.select(v) for c in table.columns)
    return f"SELECT {cols} FROM {table.source}" + (f" WHERE {where}" if where else "")


def _ts_literal(value: str) -> str:
    """A validated timestamp literal for the main database (watermarks are our own values)."""
    moment = datetime.fromisoformat(value) - timedelta(minutes=conf.snapshot_overlap_minutes())
    text = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    if vendor() == "postgresql":
        return f"'{text}+00'::timestamptz"
    return f"'{text}'"


def _load(con: duckdb.DuckDBPyConnection, table: Table, sql: str) -> int:
    """Read ``sql`` from the main database into the typed staging table ``_stage``."""
    raw = read_arrow(sql)
    con.register("_raw", raw)
    try:
        exprs = ", ".join(
            _normalise(c, raw.schema.field(c.name).type if c.name in raw.schema.names else None)
            for c in table.columns
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stage AS SELECT {exprs} FROM _raw")
    finally:
        con.unregister("_raw")
    return raw.num_rows


def _normalise(col: Col, arrow_type) -> str:
    """Typed DuckDB expression for a raw column, undoing the SQLite sentinels."""
    target = DUCK_TYPES[col.kind]
    name = f'"{col.name}"'
    if arrow_type is None or pa.types.is_null(arrow_type):
        return f"CAST(NULL AS {target}) AS {name}"
    if col.kind in ("int", "bool"):
        if pa.types.is_integer(arrow_type):
            return f"CAST(NULLIF({name}, {INT_NULL}) AS {target}) AS {name}"
        return f"CAST({name} AS {target}) AS {name}"
    if col.kind in ("ts", "date") and pa.types.is_string(arrow_type):
        # SQLite text timestamps are UTC; some carry an offset, which the cast honours
        return f"CAST(CAST(NULLIF({name}, '') AS TIMESTAMPTZ) AS {target}) AS {name}"
    if col.kind == "text" and pa.types.is_string(arrow_type):
        return f"NULLIF({name}, chr({TEXT_NULL_CODE})) AS {name}"
    return f"CAST({name} AS {target}) AS {name}"


def _refresh_table(con, table: Table, watermark: str | None) -> tuple[int, str | None]:
    name = table.name
    if table.mode == "full" or (watermark is None and table.mode != "ids"):
        read = _load(con, table, _select(table))
        con.execute(f"DELETE FROM {name}")
        con.execute(f"INSERT INTO {name} SELECT * FROM _stage")
        return read, _max_watermark(con, table)
    if table.mode == "updated_at":
        alias = table.source.split()[-1]
        read = _load(con, table, _select(table, f"{alias}.updated_at >= {_ts_literal(watermark)}"))
        con.execute(f"DELETE FROM {name} WHERE id IN (SELECT id FROM _stage)")
        con.execute(f"INSERT INTO {name} SELECT * FROM _stage")
        return read, _max_watermark(con, table) or watermark
    if table.mode == "lines":
        read = _load(con, table, _select(table, f"o.updated_at >= {_ts_literal(watermark)}"))
        con.execute(f"DELETE FROM {name} WHERE order_id IN (SELECT order_id FROM _stage)")
        con.execute(f"INSERT INTO {name} SELECT * FROM _stage")
        return read, _max_watermark(con, table) or watermark
    if table.mode == "ids":
        last_id = int(watermark or 0)
        alias = table.source.split()[-1]
        read = _load(con, table, _select(table, f"{alias}.id > {last_id}"))
        con.execute(
            f"INSERT INTO {name} SELECT * FROM _stage WHERE id NOT IN (SELECT id FROM {name})"
        )
        if watermark is not None:
            ids = read_arrow(f"SELECT {alias}.id AS id FROM {table.source}")
            con.register("_ids", ids)
            try:
                con.execute(f"DELETE FROM {name} WHERE id NOT IN (SELECT id FROM _ids)")
            finally:
                con.unregister("_ids")
        top = con.execute(f"SELECT max(id) FROM {name}").fetchall()[0][0]
        return read, str(top or last_id)
    raise ValueError(f"unknown refresh mode {table.mode}")


def _max_watermark(con, table: Table) -> str | None:
    column = {"updated_at": "updated_at", "lines": "order_updated_at"}.get(table.mode)
    if column is None:
        return None
    value = con.execute(f"SELECT max({column}) FROM _stage").fetchall()[0][0]
    return value.isoformat(sep=" ") if value else None


def status() -> dict:
    """What the snapshot holds and when each table was refreshed."""
    try:
        con = connect()
    except SnapshotMissing:
        return {"exists": False}
    try:
        rows = con.execute("SELECT name, rows, refreshed_at, seconds FROM _sync").fetchall()
    finally:
        con.close()
    return {
        "exists": True,
        "path": str(snapshot_path()),
        "tables": {r[0]: {"rows": r[1], "refreshed_at": r[2], "seconds": r[3]} for r in rows},
    }
