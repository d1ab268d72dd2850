"""Bulk reads of the main database into Arrow.

PostgreSQL is read through ``adbc-driver-postgresql`` (COPY BINARY streamed as Arrow) on its own
connection. SQLite, and any read inside a transaction (tests, or a caller that must see its own
uncommitted rows), runs the same query on Django's connection and turns it into Arrow columns in
chunks of plain tuples (never model instances). DuckDB's postgres/sqlite extensions are not used:
they download at run time.

Why not ``adbc-driver-sqlite`` for SQLite: it links its own copy of SQLite. Two SQLite libraries
in one process on one database file break SQLite's POSIX locking (closing one library's file
handle drops the other's locks), which corrupted a WAL database in our benchmark ("database disk
image is malformed"). SQLite is for small brands; large ones run PostgreSQL.

SQLite has no column types; queries select typed, non-null values (sentinels for NULL) so every
chunk has the same Arrow types, and the snapshot's normalisation turns the sentinels back into NULLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pyarrow as pa
from django.db import connection

INT_NULL = -9223372036854775807  # sentinel for NULL integers read from SQLite
TEXT_NULL_CODE = 1  # char(1) stands for a NULL text read from SQLite
FETCH_CHUNK = 50_000


@dataclass(frozen=True)
class Col:
    """A column read from the main database: ``expr`` on the source side, ``kind`` its type."""

    name: str
    kind: str  # int | text | ts | date | bool | float
    expr: str = ""

    def select(self, vendor: str) -> str:
        expr = self.expr or self.name
        if vendor != "sqlite":
            return f"{expr} AS {self.name}"
        if self.kind in ("int", "bool"):
            return f"COALESCE(CAST({expr} AS INTEGER), {INT_NULL}) AS {self.name}"
        if self.kind == "float":
            return f"CAST({expr} AS REAL) AS {self.name}"
        if self.kind == "text":
            return f"COALESCE(CAST({expr} AS TEXT), char({TEXT_NULL_CODE})) AS {self.name}"
        return f"COALESCE(CAST({expr} AS TEXT), '') AS {self.name}"


def vendor() -> str:
    return connection.vendor


def _separate_connection_sees_data() -> bool:
    """PostgreSQL outside a transaction: a second connection sees what Django's sees."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def read_arrow(sql: str) -> pa.Table:
    """Run ``sql`` on the main database and return the result as an Arrow table."""
    if _separate_connection_sees_data():
        return _read_postgres_adbc(sql)
    return _read_django_cursor(sql)


def postgres_uri(settings_dict: dict | None = None) -> str:
    s = settings_dict or connection.settings_dict
    user = quote(s.get("USER") or "", safe="")
    password = quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgresql://{auth}{host}{port}/{quote(s['NAME'], safe='')}"


def _read_postgres_adbc(sql: str) -> pa.Table:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(postgres_uri()) as con, con.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table()


def _read_django_cursor(sql: str) -> pa.Table:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        names = [d[0] for d in cursor.description]
        batches = []
        while True:
            rows = cursor.fetchmany(FETCH_CHUNK)
            if not rows:
                break
            columns = list(zip(*rows, strict=True))
            batches.append(pa.table({n: pa.array(c) for n, c in zip(names, columns, strict=True)}))
    if not batches:
        return pa.table({n: pa.array([], type=pa.null()) for n in names})
    return pa.concat_tables(batches, promote_options="permissive")
