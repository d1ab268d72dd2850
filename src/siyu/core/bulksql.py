"""Set-based writes for paths that handle hundreds of thousands of rows (order imports).

The ORM's bulk_create is too slow at that scale (it builds a model instance per row and, on SQLite,
splits into 999-parameter statements). These helpers write plain tuples: `executemany` on SQLite,
`COPY ... FROM STDIN` on PostgreSQL (psycopg 3), and `unnest()` arrays for PostgreSQL updates and
upserts. Ids are allocated up front so related rows can be written in the same pass.

Callers run inside `transaction.atomic()`; values must already be database-ready (see `RowShape`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db import connection, models

Row = Sequence[object]


def vendor() -> str:
    return connection.vendor


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve `count` primary keys for `model` (inside the caller's transaction)."""
    if count <= 0:
        return []
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if is_postgres():
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            return [row[0] for row in cursor.fetchall()]
        if not connection.in_atomic_block:
            raise RuntimeError("allocate_ids must run inside transaction.atomic()")
        # The IMMEDIATE transaction holds SQLite's write lock, so nobody else can take these ids.
        # AUTOINCREMENT keeps the highest id ever used in sqlite_sequence; respect it.
        cursor.execute(f"SELECT COALESCE(MAX({qn(pk)}), 0) FROM {qn(table)}")
        highest = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        if row and row[0] and row[0] > highest:
            highest = row[0]
    return list(range(highest + 1, highest + 1 + count))


def insert(table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
    """Plain INSERT of many rows: executemany on SQLite, COPY on PostgreSQL."""
    cols = ", ".join(qn(c) for c in columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if is_postgres():
            with raw.copy(f"COPY {qn(table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks})"
            sqlite3.Cursor.executemany(raw, sql, rows)


def execute_many(sqlite_sql: str, rows: list[Row]) -> None:
    """executemany of a statement with '?' placeholders on SQLite."""
    if not rows:
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor
        sqlite3.Cursor.executemany(raw, sqlite_sql, rows)


def execute_unnest(pg_sql: str, columns: list[list], types: Sequence[str]) -> None:
    """Run a PostgreSQL statement whose parameters are whole columns, used as
    `unnest(%s::bigint[], %s::text[], ...)`: one round trip for any number of rows."""
    if not columns or not columns[0]:
        return
    with connection.cursor() as cursor:
        cursor.execute(pg_sql, columns)


def transpose(rows: Sequence[Row], width: int) -> list[list]:
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows, strict=True)]


def prepare_for_bulk(cache_mb: int = 256) -> None:
    """Give SQLite a page cache big enough that index pages stay in memory during a bulk write
    (the default 2 MB makes every random index insert a disk read). Bounded, per connection."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")


def fetch_in(sql: str, values: Sequence, params: Sequence = ()) -> list[tuple]:
    """Run `sql` whose `{in}` stands for "<column> is one of `values`", as one parameter:
    `IN (SELECT value FROM json_each(?))` on SQLite, `= ANY(%s)` on PostgreSQL. `params` come
    before the values. Raw rows: SQLite returns datetimes as text (see parse_db_datetime)."""
    if not values:
        return []
    if is_postgres():
        query, arg = sql.replace("{in}", "= ANY(%s)"), list(values)
    else:
        query, arg = (
            sql.replace("{in}", "IN (SELECT value FROM json_each(%s))"),
            json.dumps(list(values), ensure_ascii=False),
        )
    with connection.cursor() as cursor:
        cursor.execute(query, [*params, arg])
        return cursor.fetchall()


def parse_db_datetime(value) -> datetime | None:
    """A datetime read by raw SQL, as naive UTC (SQLite gives text, PostgreSQL aware values)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def datetime_formatter():
    """A fast datetime_sql for the current database (the vendor is looked up once)."""
    suffix = "+00:00" if is_postgres() else ""

    def to_sql(value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ") + suffix

    return to_sql


def datetime_sql(value: datetime | None) -> str | None:
    """A naive-UTC or aware datetime in the text form both databases store and parse."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    text = value.isoformat(" ")
    return text + "+00:00" if is_postgres() else text


class RowShape:
    """Column order and constant defaults for raw inserts into `model`.

    The caller gives values for `fields` (database-ready, in that order); every other concrete
    field gets its model default, prepared once. So a field another app adds later (with a
    default) does not break the bulk path.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[str]) -> None:
        meta = model._meta
        self.table = meta.db_table
        given = [meta.get_field(name) for name in fields]
        given_names = {f.name for f in given}
        rest = [
            f
            for f in meta.concrete_fields
            if f.name not in given_names and not (f.primary_key and isinstance(f, models.AutoField))
        ]
        for f in rest:
            if not f.has_default() and not f.null and not f.blank:
                raise ValueError(f"{self.table}.{f.column} needs a value in bulk inserts")
        self.columns = [f.column for f in given] + [f.column for f in rest]
        self.constants = tuple(_default_for(f) for f in rest)

    def insert(self, rows: Iterable[Row]) -> None:
        constants = self.constants
        insert(self.table, self.columns, (tuple(row) + constants for row in rows))


def _default_for(field: models.Field):
    if field.has_default():
        value = field.get_default()
    elif field.null:
        value = None
    else:
        value = "" if isinstance(field, models.CharField | models.TextField) else None
    if isinstance(value, datetime):
        return datetime_sql(value)
    return field.get_db_prep_save(value, connection)
