"""The segment index: query-ready DuckDB tables derived from the analytics snapshot.

Segment counts must come back while someone edits a rule, and dashboards must render in well
under a second at a million customers. The snapshot (``siyu.analytics.snapshot``) mirrors the main
database table by table; this index reshapes it once per snapshot version for those reads:

* ``facts``: one row per active customer (not merged away, not erased) with the profile, owner,
  consent per channel (granted flags), lifetime purchase figures and the latest scores, so most
  conditions are a filter on one table instead of joins;
* ``purchases`` and ``lines``: counted purchases (paid, not cancelled or refunded, money kept) and
  their lines, with merged customers' orders moved to the survivor, sorted by ``paid_at`` so a
  purchase window reads only the row groups inside it;
* ``customer_tags``, ``category_due``, ``tags``, ``categories``, ``products``: conditions and labels;
* whatever other apps register with ``builder()`` (the dashboards' pre-aggregated cubes).

The index lives beside the snapshot in SIYU_ANALYTICS_DIR: each build writes a new
``segments-<time>-<id>.duckdb`` and then ``segments.json``, which names the current file and
remembers which snapshot version it was built from. It is rebuilt after every snapshot replacement (the
``SnapshotReplaced`` event queues ``rebuild_index``), and on first use. Readers see a stale index
only while a large rebuild runs; ``info()`` tells them how old their data is. Like the snapshot, a
rebuild writes a new file and only then points ``segments.json`` at it, so readers never wait.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
from django.conf import settings

from siyu.analytics import conf as analytics_conf
from siyu.analytics import snapshot

from .rules import PRECOMPUTED_WINDOWS, channel_bits_map, platform_bits_map

log = logging.getLogger(__name__)

INDEX_VERSION = 6
CONSENT_CHANNELS = ("sms", "wecom", "wechat_oa", "miniprogram", "phone", "email")
PRODUCT_LIST_LIMIT = 2000  # the builder's product picker offers the most bought products


class IndexUnavailable(Exception):
    """There is no data to evaluate segments on yet (no snapshot)."""

    code = "no_snapshot"


@dataclass(frozen=True)
class Builder:
    name: str
    build: Callable[[duckdb.DuckDBPyConnection], None]
    order: int = 100


_builders: dict[str, Builder] = {}


def builder(name: str, *, order: int = 100):
    """Register a function that adds tables to the index (it runs after the core tables)."""

    def register(fn):
        _builders[name] = Builder(name, fn, order)
        return fn

    return register


# --- paths, stamps ----------------------------------------------------------------------------------


def pointer_path() -> Path:
    """A small JSON file naming the current index file, with its meta (read without DuckDB)."""
    return analytics_conf.analytics_dir() / "segments.json"


def index_path() -> Path | None:
    """The current index file, or None before the first build."""
    name = read_meta().get("file")
    return analytics_conf.analytics_dir() / name if name else None


def read_meta() -> dict:
    try:
        return json.loads(pointer_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _stamp(path: Path) -> str | None:
    """Identifies one version of a file: the snapshot is replaced by rename, so a new inode."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def snapshot_stamp() -> str | None:
    return _stamp(snapshot.snapshot_path())


def inline_rebuild_limit() -> int:
    """Indexes up to this many customers are rebuilt inline when stale (well under a second)."""
    return int(
        getattr(settings, "SIYU_SEGMENTS_INLINE_REBUILD_CUSTOMERS", None)
        or os.environ.get("SIYU_SEGMENTS_INLINE_REBUILD_CUSTOMERS", "200000")
    )


# --- building ---------------------------------------------------------------------------------------


@dataclass
class BuildReport:
    built: bool
    seconds: float = 0.0
    customers: int = 0
    steps: dict = field(default_factory=dict)
    snapshot_stamp: str | None = None


@contextmanager
def _lock(*, blocking: bool = True):
    directory = analytics_conf.analytics_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "segments.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def build(*, force: bool = False) -> BuildReport:
    """Rebuild the index from the current snapshot unless it is already built from it."""
    with _lock() as _held:
        return _build_locked(force=force)


def _build_locked(*, force: bool) -> BuildReport:
    source = snapshot.snapshot_path()
    stamp = _stamp(source)
    if stamp is None:
        raise IndexUnavailable("no snapshot yet: run `siyu snapshot` or `siyu score`")
    current = read_meta()
    if not force and current.get("snapshot_stamp") == stamp and _usable(current):
        return BuildReport(built=False, snapshot_stamp=stamp)
    started = time.perf_counter()
    directory = analytics_conf.analytics_dir()
    # every build is a new file: DuckDB shares one open database per path within a process, so
    # a reused name would keep serving the old contents to this process
    name = f"segments-{datetime.utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.duckdb"
    work = directory / (name + ".building")
    con = duckdb.connect(str(work))
    steps: dict[str, float] = {}
    try:
        con.execute("SET TimeZone = 'UTC'")
        src = str(source).replace("'", "''")
        con.execute(f"ATTACH '{src}' AS snap (READ_ONLY)")
        built_on = _today().isoformat()
        _core_tables(con, steps, built_on)
        for b in sorted(_builders.values(), key=lambda b: (b.order, b.name)):
            t0 = time.perf_counter()
            b.build(con)
            steps[b.name] = round(time.perf_counter() - t0, 3)
        refreshed = con.execute("SELECT max(refreshed_at) FROM snap._sync").fetchall()[0][0]
        scores_as_of = con.execute("SELECT max(as_of) FROM snap.scores").fetchall()[0][0]
        customers = con.execute("SELECT count(*) FROM facts").fetchall()[0][0]
        con.execute("DETACH snap")
        con.execute("CHECKPOINT")
        con.close()
        os.replace(work, directory / name)
    except BaseException:
        con.close()
        work.unlink(missing_ok=True)
        work.with_name(work.name + ".wal").unlink(missing_ok=True)
        raise
    meta = {
        "version": INDEX_VERSION,
        "file": name,
        "snapshot_stamp": stamp,
        "built_at": datetime.utcnow().isoformat(sep=" ", timespec="seconds"),
        "built_on": built_on,
        "snapshot_refreshed_at": refreshed.isoformat(sep=" ", timespec="seconds")
        if refreshed
        else "",
        "scores_as_of": scores_as_of.isoformat() if scores_as_of else "",
        "customers": customers,
        "seconds": round(time.perf_counter() - started, 3),
        "steps": steps,
    }
    pointer = pointer_path()
    tmp = pointer.with_name(pointer.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, pointer)
    _remove_old(directory, keep={name, current.get("file")})
    seconds = time.perf_counter() - started
    log.info("segment index built in %.1fs (%s customers): %s", seconds, customers, steps)
    return BuildReport(
        built=True, seconds=seconds, customers=customers, steps=steps, snapshot_stamp=stamp
    )


def _usable(meta: dict) -> bool:
    name = meta.get("file")
    return (
        meta.get("version") == INDEX_VERSION
        and bool(name)
        and (analytics_conf.analytics_dir() / name).exists()
    )


def _remove_old(directory: Path, keep: set) -> None:
    """Delete index files older than the previous one (a reader that already opened one keeps
    reading it: the file goes away only when it closes it)."""
    for path in directory.glob("segments-*.duckdb*"):
        if path.name not in keep and not path.name.endswith(".building"):
            path.unlink(missing_ok=True)


def _today():
    from django.utils import timezone

    return timezone.localdate()


def _bits(bits: dict[str, int]) -> str:
    cases = " ".join(f"WHEN '{code}' THEN {1 << i}" for code, i in bits.items())
    return f"CASE key {cases} ELSE 0 END"


def _step(con: duckdb.DuckDBPyConnection, steps: dict, name: str, sql: str) -> None:
    t0 = time.perf_counter()
    con.execute(sql)
    steps[name] = round(time.perf_counter() - t0, 3)


def _core_tables(con: duckdb.DuckDBPyConnection, steps: dict, built_on: str) -> None:
    tz = str(settings.TIME_ZONE).replace("'", "")
    con.execute(
        "CREATE OR REPLACE MACRO local_day(ts) AS "
        f"CAST(timezone('{tz}', CAST(ts AS TIMESTAMPTZ)) AS DATE)"
    )
    # records merged away (possibly twice) and the survivor their purchases belong to
    con.execute(
        """
        CREATE TEMP TABLE survivor AS
        SELECT c.id, coalesce(m2.merged_into_id, c.merged_into_id) AS into_id
        FROM snap.customers c LEFT JOIN snap.customers m2 ON m2.id = c.merged_into_id
        WHERE c.merged_into_id IS NOT NULL
        """
    )
    # the buyer's home store and first source travel with every purchase (dashboard filters)
    con.execute(
        """
        CREATE TEMP TABLE home AS
        SELECT id, store_id, coalesce(source, '') AS source FROM snap.customers
        WHERE merged_into_id IS NULL
        """
    )
    _step(
        con,
        steps,
        "purchases",
        """
        CREATE TABLE purchases AS
        SELECT coalesce(s.into_id, o.customer_id) AS customer_id, o.id AS order_id, o.paid_at,
               local_day(o.paid_at) AS day, o.paid_fen - o.refunded_fen AS net_fen, o.paid_fen,
               o.cost_fen, coalesce(o.channel, '') AS channel, coalesce(o.platform, '') AS platform,
               o.store_id, h.store_id AS home_store_id, coalesce(h.source, '') AS source
        FROM snap.orders o
        LEFT JOIN survivor s ON s.id = o.customer_id
        LEFT JOIN home h ON h.id = coalesce(s.into_id, o.customer_id)
        WHERE o.paid_at IS NOT NULL AND o.status NOT IN ('cancelled', 'refunded')
          AND o.paid_fen > o.refunded_fen
        """,
    )
    _step(
        con,
        steps,
        "lines",
        """
        CREATE TABLE lines AS
        SELECT p.customer_id, p.order_id, p.paid_at, p.day, p.home_store_id, p.source,
               coalesce(nullif(l.external_sku, ''), l.product_title, '') AS product,
               coalesce(l.product_title, '') AS product_title, l.category_id, l.category_name,
               coalesce(l.quantity, 1) - coalesce(l.refunded_quantity, 0) AS quantity,
               l.paid_fen - coalesce(l.refunded_fen, 0) AS net_fen, l.cost_fen
        FROM snap.order_lines l JOIN purchases p ON p.order_id = l.order_id
        WHERE l.paid_fen > coalesce(l.refunded_fen, 0)
        """,
    )
    # one row per customer and purchase day, with the days around it and running totals: the
    # customer's first day in a window is the row whose previous day falls before it, so
    # "orders / spend since day s" is total minus what came before that row, with no GROUP BY
    _step(
        con,
        steps,
        "pdays",
        """
        CREATE TABLE pdays AS
        SELECT customer_id, day, fen, orders, store_id, source,
               lag(day) OVER w AS prev_day, lead(day) OVER w AS next_day,
               coalesce(sum(fen) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                   AS fen_before,
               coalesce(sum(orders) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                   AS orders_before,
               sum(fen) OVER (PARTITION BY customer_id) AS fen_total,
               sum(orders) OVER (PARTITION BY customer_id) AS orders_total
        FROM (SELECT customer_id, day, sum(net_fen) AS fen, count(*) AS orders,
                     any_value(home_store_id) AS store_id, any_value(source) AS source
              FROM purchases GROUP BY customer_id, day)
        WINDOW w AS (PARTITION BY customer_id ORDER BY day)
        ORDER BY day
        """,
    )
    # who bought which product, category, channel and platform, and the last day they did:
    # "bought X in the last N days" is last_day >= the window's first day (sorted by key, so a
    # condition reads only the row groups of the keys it names)
    _step(
        con,
        steps,
        "customer_bought",
        """
        CREATE TABLE customer_bought AS
        SELECT * FROM (
            SELECT 'product' AS kind, product AS key, customer_id, max(day) AS last_day
            FROM lines WHERE product <> '' GROUP BY ALL
            UNION ALL
            SELECT 'category', CAST(category_id AS VARCHAR), customer_id, max(day)
            FROM lines WHERE category_id IS NOT NULL GROUP BY ALL
            UNION ALL
            SELECT 'channel', channel, customer_id, max(day) FROM purchases GROUP BY ALL
            UNION ALL
            SELECT 'platform', platform, customer_id, max(day)
            FROM purchases WHERE platform <> '' GROUP BY ALL
        ) ORDER BY kind, key
        """,
    )
    consent_cols = ", ".join(
        f"bool_or(channel = '{ch}' AND granted) AS consent_{ch}" for ch in CONSENT_CHANNELS
    )
    consent_sel = ", ".join(
        f"coalesce(cs.consent_{ch}, false) AS consent_{ch}" for ch in CONSENT_CHANNELS
    )
    # spend and orders in the usual windows, as of the build day (rules.PRECOMPUTED_WINDOWS)
    window_cols = ", ".join(
        f"sum(fen) FILTER (WHERE day > DATE '{built_on}' - {n}) AS spent_{n}d, "
        f"sum(orders) FILTER (WHERE day > DATE '{built_on}' - {n}) AS orders_{n}d"
        for n in PRECOMPUTED_WINDOWS
    )
    window_sel = ", ".join(
        f"coalesce(b.spent_{n}d, 0) AS spent_{n}d, coalesce(b.orders_{n}d, 0) AS orders_{n}d"
        for n in PRECOMPUTED_WINDOWS
    )
    platform_bits = _bits(platform_bits_map())
    channel_bits = _bits(channel_bits_map())
    _step(
        con,
        steps,
        "facts",
        f"""
        CREATE TABLE facts AS
        WITH bought AS (
            SELECT customer_id, sum(orders) AS orders, count(*) AS purchase_days,
                   sum(fen) AS net_spend_fen, min(day) AS first_purchase_on,
                   max(day) AS last_purchase_on,
                   -- the second purchase day (repurchase within 90 days of the first)
                   min(day) FILTER (WHERE prev_day IS NOT NULL) AS second_day,
                   {window_cols}
            FROM pdays GROUP BY customer_id
        ), masks AS (
            SELECT customer_id,
                   bit_or(CASE WHEN kind = 'platform' THEN {platform_bits} ELSE 0 END)
                       AS platform_mask,
                   bit_or(CASE WHEN kind = 'channel' THEN {channel_bits} ELSE 0 END)
                       AS channel_mask
            FROM customer_bought WHERE kind IN ('platform', 'channel') GROUP BY customer_id
        ), consent AS (
            SELECT customer_id, {consent_cols} FROM snap.consents GROUP BY customer_id
        )
        SELECT c.id AS customer_id,
               coalesce(c.source, '') AS source, coalesce(c.gender, '') AS gender, c.birthday,
               CAST(month(c.birthday) AS INTEGER) AS birth_month,
               coalesce(c.province, '') AS province, coalesce(c.city, '') AS city,
               c.first_seen_at, local_day(c.first_seen_at) AS first_seen_on,
               c.referred_by_id IS NOT NULL AS referred,
               coalesce(c.owner_kind, '') AS owner_kind, c.owner_id, c.owner_user_id, c.store_id,
               coalesce(c.in_pool, false) AS in_pool, c.opted_out_at IS NOT NULL AS opted_out,
               {consent_sel},
               coalesce(b.orders, 0) AS orders, coalesce(b.purchase_days, 0) AS purchase_days,
               coalesce(b.net_spend_fen, 0) AS net_spend_fen,
               {window_sel},
               coalesce(m.platform_mask, 0) AS platform_mask,
               coalesce(m.channel_mask, 0) AS channel_mask,
               b.first_purchase_on, b.last_purchase_on,
               coalesce(b.second_day - b.first_purchase_on <= 90, false) AS repeat_90d,
               s.as_of AS scores_as_of, s.r_score, s.f_score, s.m_score,
               nullif(s.rfm_group, '') AS rfm_group, s.value_fen, s.value_score, s.p_alive,
               s.clv_90d_fen, s.clv_365d_fen, s.expected_purchases_365d, s.cycle_days,
               s.next_purchase_on, coalesce(s.replenishment_due, false) AS replenishment_due,
               coalesce(s.lifecycle, CASE WHEN b.orders > 0 THEN 'purchased'
                                          WHEN c.in_pool THEN 'related' ELSE 'aware' END)
                   AS lifecycle
        FROM snap.customers c
        LEFT JOIN bought b ON b.customer_id = c.id
        LEFT JOIN masks m ON m.customer_id = c.id
        LEFT JOIN consent cs ON cs.customer_id = c.id
        LEFT JOIN snap.scores s ON s.customer_id = c.id
        WHERE c.merged_into_id IS NULL AND c.erased_at IS NULL
        ORDER BY c.id
        """,
    )
    _step(
        con,
        steps,
        "labels",
        f"""
        CREATE TABLE customer_tags AS
        SELECT DISTINCT customer_id, tag_id FROM snap.customer_tags ORDER BY tag_id, customer_id;
        CREATE TABLE tags AS SELECT id, group_name, name FROM snap.tags;
        CREATE TABLE category_due AS
        SELECT customer_id, category_id, category_name, next_purchase_on, replenishment_due
        FROM snap.customer_category_cycles;
        CREATE TABLE categories AS
        SELECT category_id, any_value(category_name) AS name, count(DISTINCT customer_id) AS buyers
        FROM lines WHERE category_id IS NOT NULL GROUP BY category_id ORDER BY buyers DESC;
        CREATE TABLE products AS
        SELECT product, any_value(product_title) AS title, any_value(category_name) AS category,
               count(DISTINCT customer_id) AS buyers, sum(net_fen) AS revenue_fen
        FROM lines WHERE product <> '' GROUP BY product
        ORDER BY buyers DESC, product LIMIT {PRODUCT_LIST_LIMIT};
        """,
    )


# --- reading ----------------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cached: dict[str, duckdb.DuckDBPyConnection] = {}


def _connection(path: Path) -> duckdb.DuckDBPyConnection:
    """One read-only connection per index file and process; callers take cursors from it.
    Opening a DuckDB file and loading its catalogue costs tens of milliseconds, more than a
    typical count, so the connection is kept for as long as that file is the current one."""
    key = str(path)
    with _cache_lock:
        con = _cached.get(key)
        if con is None:
            con = duckdb.connect(key, read_only=True)
            con.execute("SET TimeZone = 'UTC'")
            # group-by on customer ids (up to a few million) with a perfect hash table
            con.execute("SET perfect_ht_threshold = 24")
            # connections to replaced files are dropped, not closed: cursors in use finish
            _cached.clear()
            _cached[key] = con
        return con


def _enqueue_rebuild(stamp: str) -> None:
    from django.core.cache import cache

    if not cache.add(f"segments:rebuild:{stamp}", 1, 600):
        return
    from .tasks import rebuild_index

    try:
        rebuild_index.enqueue()
    except Exception:  # the queue being down must not stop a count on the (stale) index
        log.exception("could not queue a segment index rebuild")


def fresh_connection() -> tuple[duckdb.DuckDBPyConnection, dict]:
    """A cursor on the index and its meta, rebuilding it first when that is cheap.

    Missing index: built now. Stale index (the snapshot was replaced since): rebuilt now when it
    holds at most ``inline_rebuild_limit()`` customers (well under a second); a larger one is read
    as it is while the background rebuild (queued after every snapshot refresh) finishes.
    """
    current = snapshot_stamp()
    if current is None:
        raise IndexUnavailable("no snapshot yet: run `siyu snapshot` or `siyu score`")
    meta = read_meta()
    if not _usable(meta):
        build()
    elif meta.get("snapshot_stamp") != current:
        if int(meta.get("customers") or 0) <= inline_rebuild_limit():
            build()
        else:
            _enqueue_rebuild(current)
    meta = read_meta()
    con = _connection(analytics_conf.analytics_dir() / meta["file"])
    return con.cursor(), meta


def info() -> dict:
    """How fresh the index is: built_at, snapshot_refreshed_at, scores_as_of, customers, stale."""
    meta = read_meta()
    if not meta:
        return {"exists": False, "snapshot_exists": snapshot_stamp() is not None}
    return {
        "exists": True,
        "built_at": meta.get("built_at"),
        "snapshot_refreshed_at": meta.get("snapshot_refreshed_at"),
        "scores_as_of": meta.get("scores_as_of"),
        "customers": int(meta.get("customers") or 0),
        "stale": meta.get("snapshot_stamp") != snapshot_stamp(),
    }


def data_time(meta: dict) -> datetime | None:
    """When the data behind the index was read from the main database (aware, UTC)."""
    from datetime import UTC

    raw = meta.get("snapshot_refreshed_at") or ""
    if not raw:
        return None
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)
