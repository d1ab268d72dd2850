"""`siyu export`: item-level customers, orders, order lines and scores for the brand's warehouse.

The data is the brand's own (its first-hand, item-level data is one of the three properties of a
private domain), so it leaves in open formats: Parquet or CSV, one file per table plus a
``manifest.json`` with the schema. Personal data policy (docs/analytics.md):

* by default customers are identified by a pseudonymous key, a keyed hash of the customer id under
  SIYU_DATA_KEY: stable across exports (a warehouse can join them over time) but not reversible
  without the key; names, phones and receiver addresses are left out;
* ``include_pii`` adds decrypted names and phones (and order receivers) and requires the
  ``analytics.export_pii`` permission (owners by default). Every export is written to the audit
  trail, with whether it held personal data. Erased customers never carry personal data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from django.utils import timezone

from siyu.core import audit, crypto
from siyu.core.access import Actor, authorize
from siyu.core.errors import ValidationFailed

from . import snapshot
from .source import read_arrow

FORMATS = ("parquet", "csv")
KEY_LENGTH = 20


def customer_key(customer_id: int) -> str:
    """The pseudonymous key a customer has in every export."""
    return crypto.lookup_hash("export-customer", str(customer_id))[:KEY_LENGTH]


@dataclass
class ExportResult:
    directory: Path
    files: dict[str, dict] = field(default_factory=dict)
    include_pii: bool = False


# column lists per exported table; keys replace internal customer ids
CUSTOMER_SQL = """
SELECT k.customer_key, rk.customer_key AS referred_by_key, c.source, c.source_detail, c.gender,
       year(c.birthday) AS birth_year, c.province, c.city, c.first_seen_at, c.owner_kind,
       c.owner_id, c.store_id, c.in_pool, c.opted_out_at IS NOT NULL AS opted_out,
       c.created_at, c.updated_at {pii}
FROM customers c
JOIN _keys k ON k.id = c.id
LEFT JOIN _keys rk ON rk.id = c.referred_by_id
{pii_join}
WHERE c.merged_into_id IS NULL AND c.erased_at IS NULL
ORDER BY c.id
"""
ORDER_SQL = """
SELECT o.id AS order_id, o.number, k.customer_key, o.channel, o.platform, o.status, o.store_id,
       o.credited_kind, o.credited_id, o.goods_amount_fen, o.discount_fen, o.shipping_fen,
       o.payable_fen, o.paid_fen, o.refunded_fen, o.cost_fen, o.placed_at, o.paid_at,
       o.shipped_at, o.completed_at, o.cancelled_at, o.receiver_province, o.receiver_city,
       o.updated_at {pii}
FROM orders o
JOIN survivor s ON s.id = o.customer_id
JOIN _keys k ON k.id = s.customer_id
{pii_join}
ORDER BY o.id
"""
LINE_SQL = """
SELECT l.id AS line_id, l.order_id, l.line_no, l.product_title, l.spec_text, l.external_sku,
       l.quantity, l.unit_price_fen, l.amount_fen, l.discount_fen, l.paid_fen, l.cost_fen,
       l.refunded_fen, l.refunded_quantity, l.category_id, l.category_name
FROM order_lines l
ORDER BY l.order_id, l.line_no
"""
SCORE_SQL = """
SELECT k.customer_key, s.* EXCLUDE (customer_id)
FROM scores s JOIN _keys k ON k.id = s.customer_id
ORDER BY s.customer_id
"""


def export(
    *,
    actor: Actor,
    out: Path,
    fmt: str = "parquet",
    include_pii: bool = False,
    refresh: bool = True,
) -> ExportResult:
    authorize(actor, "analytics.export")
    if include_pii:
        authorize(actor, "analytics.export_pii")
    if fmt not in FORMATS:
        raise ValidationFailed(fields={"format": f"one of {', '.join(FORMATS)}"})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if refresh or not snapshot.snapshot_path().exists():
        with snapshot.writer() as con:
            snapshot.refresh(con)
    result = ExportResult(directory=out, include_pii=include_pii)
    con = snapshot.connect()
    try:
        ids = con.execute("SELECT id FROM customers ORDER BY id").fetchnumpy()["id"]
        keys = pa.table({"id": ids, "customer_key": [customer_key(int(i)) for i in ids]})
        con.register("_keys", keys)
        con.execute(
            "CREATE TEMP TABLE survivor AS SELECT c.id, "
            "coalesce(m2.merged_into_id, c.merged_into_id, c.id) AS customer_id "
            "FROM customers c LEFT JOIN customers m2 ON m2.id = c.merged_into_id"
        )
        customer_pii = order_pii = ("", "")
        if include_pii:
            con.register("_customer_pii", _customer_pii())
            con.register("_order_pii", _order_pii())
            customer_pii = (
                ", p.name, p.phone",
                "LEFT JOIN _customer_pii p ON p.id = c.id",
            )
            order_pii = (
                ", op.receiver_name, op.receiver_phone, op.receiver_address",
                "LEFT JOIN _order_pii op ON op.id = o.id",
            )
        queries = {
            "customers": CUSTOMER_SQL.format(pii=customer_pii[0], pii_join=customer_pii[1]),
            "orders": ORDER_SQL.format(pii=order_pii[0], pii_join=order_pii[1]),
            "order_lines": LINE_SQL,
            "scores": SCORE_SQL,
        }
        for name, sql in queries.items():
            path = out / f"{name}.{fmt}"
            options = (
                "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "HEADER, FORMAT csv"
            )
            con.execute(f"COPY ({sql}) TO '{_path_literal(path)}' ({options})")
            schema = con.execute(f"DESCRIBE ({sql})").fetchall()
            rows = con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
            result.files[name] = {
                "file": path.name,
                "rows": int(rows),
                "columns": [{"name": c[0], "type": c[1]} for c in schema],
            }
    finally:
        con.close()
    manifest = {
        "exported_at": timezone.now().isoformat(),
        "format": fmt,
        "personal_data": include_pii,
        "customer_key": "HMAC-SHA256 of the customer id under the brand's data key, "
        f"first {KEY_LENGTH} hex digits; stable across exports",
        "money": "integer fen (1/100 yuan)",
        "timestamps": "UTC",
        "tables": result.files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    audit.record(
        actor,
        "analytics.export_pii" if include_pii else "analytics.export",
        object_type="analytics.export",
        summary=(f"{fmt} export to {out}" + (" with personal data" if include_pii else ""))[:250],
        data={name: f["rows"] for name, f in result.files.items()}
        | {"pii": include_pii, "directory": str(out)},
    )
    return result


def _path_literal(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")


def _table(label: str) -> str:
    from django.apps import apps

    return apps.get_model(label)._meta.db_table


def _decrypt_column(values: list) -> list:
    return [crypto.decrypt(v) if v else None for v in values]


def _customer_pii() -> pa.Table:
    """Names and decrypted phones of customers who are not erased (one pass over two columns)."""
    raw = read_arrow(
        "SELECT id, COALESCE(name, '') AS name, COALESCE(phone, '') AS phone "
        f"FROM {_table('customers.Customer')} WHERE erased_at IS NULL"
    )
    return pa.table(
        {
            "id": raw.column("id"),
            "name": raw.column("name"),
            "phone": pa.array(_decrypt_column(raw.column("phone").to_pylist()), pa.string()),
        }
    )


def _order_pii() -> pa.Table:
    raw = read_arrow(
        "SELECT o.id, COALESCE(o.receiver_name, '') AS n, COALESCE(o.receiver_phone, '') AS p, "
        f"COALESCE(o.receiver_address, '') AS a FROM {_table('orders.Order')} o "
        f"JOIN {_table('customers.Customer')} c ON c.id = o.customer_id WHERE c.erased_at IS NULL"
    )
    return pa.table(
        {
            "id": raw.column("id"),
            "receiver_name": pa.array(_decrypt_column(raw.column("n").to_pylist()), pa.string()),
            "receiver_phone": pa.array(_decrypt_column(raw.column("p").to_pylist()), pa.string()),
            "receiver_address": pa.array(_decrypt_column(raw.column("a").to_pylist()), pa.string()),
        }
    )
