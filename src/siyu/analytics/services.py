"""Analytics services: run the scoring, store its results in bulk, and read scores with row scope."""

from __future__ import annotations

import io
import logging
import math
import time
import traceback
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from siyu.core.access import Actor, Role, authorize

from . import snapshot
from .models import CustomerScore, ScoreRun
from .scoring import SCORE_COLUMNS, score_snapshot

log = logging.getLogger(__name__)

WRITE_CHUNK = 100_000


def run_scoring(
    *,
    actor: Actor,
    trigger: str = "manual",
    as_of: date | None = None,
    full_refresh: bool = False,
) -> ScoreRun:
    """Refresh the snapshot, score every customer, and replace the stored scores.

    The run row is written first and kept whatever happens, so a failed night shows up in the
    score-run history with its error. Two runs never overlap: the snapshot writer lock serialises
    them.
    """
    authorize(actor, "analytics.run")
    as_of = as_of or timezone.localdate()
    run = ScoreRun.objects.create(
        trigger=trigger, started_by=actor.label[:150], as_of=as_of, status=ScoreRun.Status.RUNNING
    )
    started = time.perf_counter()
    try:
        with snapshot.writer() as con:
            t0 = time.perf_counter()
            refreshed = snapshot.refresh(con, full=full_refresh)
            refresh_seconds = time.perf_counter() - t0
            result = score_snapshot(con, as_of)
            scores = con.sql("SELECT * FROM scores").to_arrow_table()
        t0 = time.perf_counter()
        write_scores(scores, run_id=run.pk)
        write_seconds = time.perf_counter() - t0
    except Exception as exc:
        run.status = ScoreRun.Status.FAILED
        run.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        run.finished_at = timezone.now()
        run.seconds = time.perf_counter() - started
        run.save(update_fields=["status", "error", "finished_at", "seconds"])
        log.exception("score run %s failed", run.pk)
        raise
    run.status = ScoreRun.Status.SUCCEEDED
    run.customers = result.customers
    run.buyers = result.buyers
    run.parameters = json_safe(result.parameters)
    run.figures = json_safe(result.figures) | {
        "timings": result.timings
        | {"snapshot_refresh": round(refresh_seconds, 3), "write_scores": round(write_seconds, 3)},
        "snapshot": refreshed.tables,
    }
    run.finished_at = timezone.now()
    run.seconds = time.perf_counter() - started
    run.save()
    log.info("score run %s: %s customers in %.1fs", run.pk, run.customers, run.seconds)
    return run


def json_safe(value):
    """JSON has no NaN or infinity: store them as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _db_columns() -> list[str]:
    return ["run_id", *(name for name, _kind in SCORE_COLUMNS)]


def _prepare(scores: pa.Table, run_id: int) -> pa.Table:
    """The scores as the main table stores them: text columns never NULL, run id added."""
    table = scores
    for name in ("rfm_group", "cycle_source"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.fill_null(table.column(name), ""))
    run = pa.array([run_id] * table.num_rows, type=pa.int64())
    table = table.add_column(0, "run_id", run)
    return table.select(_db_columns())


def write_scores(scores: pa.Table, *, run_id: int) -> None:
    """Replace every stored CustomerScore with ``scores`` in one transaction, in bulk.

    PostgreSQL: TRUNCATE, then COPY into the table with its secondary indexes and foreign keys
    taken off, then the indexes rebuilt and the foreign keys added back (each checked by one
    set-based scan). Per-row index maintenance and two deferred foreign-key triggers per row made
    the plain DELETE + COPY of a million rows several times slower. The table's schema is the
    same afterwards (names and definitions read from the catalogue); readers of scores wait for
    the commit (seconds) instead of seeing the old rows. SQLite: DELETE + executemany.
    """
    table = _prepare(scores, run_id)
    db_table = CustomerScore._meta.db_table
    columns = ", ".join(_db_columns())
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _replace_postgres(cursor, table, db_table, columns)
            return
        cursor.execute(f"DELETE FROM {db_table}")
        placeholders = ", ".join(["%s"] * table.num_columns)
        sql = f"INSERT INTO {db_table} ({columns}) VALUES ({placeholders})"
        for batch in table.to_batches(WRITE_CHUNK):
            cols = []
            for col in batch.columns:
                if pa.types.is_date(col.type):
                    col = col.cast(pa.string())
                elif pa.types.is_floating(col.type):
                    col = pc.if_else(pc.is_nan(col), None, col)
                cols.append(col.to_pylist())
            cursor.executemany(sql, list(zip(*cols, strict=True)))


def _replace_postgres(cursor, table: pa.Table, db_table: str, columns: str) -> None:
    qn = connection.ops.quote_name
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema()"
        " AND i.tablename = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint c"
        " WHERE c.conrelid = %s::regclass AND c.conname = i.indexname) ORDER BY 1",
        [db_table, db_table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY 1",
        [db_table],
    )
    foreign_keys = cursor.fetchall()
    # ALTER TABLE refuses while deferred checks of this transaction are pending: run them now
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"TRUNCATE {qn(db_table)}")
    for name, _definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {qn(db_table)} DROP CONSTRAINT {qn(name)}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {qn(name)}")
    raw = cursor.cursor
    with raw.copy(f"COPY {qn(db_table)} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for batch in table.to_batches(WRITE_CHUNK):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, write_options=pacsv.WriteOptions(include_header=False))
            copy.write(buffer.getvalue())
    for _name, definition in indexes:
        cursor.execute(definition)
    for name, definition in foreign_keys:
        cursor.execute(f"ALTER TABLE {qn(db_table)} ADD CONSTRAINT {qn(name)} {definition}")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's foreign keys: initially deferred


# --- reading ----------------------------------------------------------------------------------------


def scores_visible_to(actor: Actor) -> QuerySet[CustomerScore]:
    """Scores the actor may see: everyone's for staff-wide roles, their store's for a manager."""
    authorize(actor, "analytics.view")
    qs = CustomerScore.objects.all()
    if actor.sees_all_stores:
        return qs
    if actor.role == Role.STORE_MANAGER and actor.store_id:
        return qs.filter(customer__store_id=actor.store_id)
    return qs.none()


def score_for_customer(actor: Actor, customer_id: int) -> CustomerScore | None:
    if not actor.can("analytics.view"):
        return None
    return scores_visible_to(actor).filter(customer_id=customer_id).select_related("run").first()


def score_runs(actor: Actor) -> QuerySet[ScoreRun]:
    """The history of scoring runs (parameters and aggregate figures, no per-customer data)."""
    authorize(actor, "analytics.view")
    return ScoreRun.objects.all()


def latest_run() -> ScoreRun | None:
    return ScoreRun.objects.filter(status=ScoreRun.Status.SUCCEEDED).first()
