"""Data-key rotation: re-encrypt personal data under the current SIYU_DATA_KEY and re-key lookup
hashes.

Keyed lookup hashes (a phone's hash, a platform id's hash) are derived from the data key, so a new
key changes every hash. Rotation is therefore an offline step: stop the server and worker, set the
new key in SIYU_DATA_KEY and the old one in SIYU_DATA_KEY_PREVIOUS, run `siyu rotate-data-key`,
start again, and drop SIYU_DATA_KEY_PREVIOUS once it reports nothing left under the old key.

Core owns the encrypted field type, so it re-encrypts every `EncryptedTextField` of every installed
model here; the apps that keep hashes re-key them in a `DataKeyRotated` subscriber, in the same
transaction. The command is safe to run again: ciphertexts already under the current key are
skipped and hashes are recomputed from the plaintext, which gives the same result every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

from . import crypto
from .errors import DomainError
from .events import DomainEvent, publish
from .fields import EncryptedTextField


@dataclass(frozen=True)
class DataKeyRotated(DomainEvent):
    """Every ciphertext is now under the current key: recompute what you derived from the old one
    (lookup hashes) from the plaintext."""


@dataclass
class RotationReport:
    reencrypted: dict[str, int] = field(default_factory=dict)  # "app.Model.field" -> values
    scanned: dict[str, int] = field(default_factory=dict)  # "app.Model" -> rows

    @property
    def total_reencrypted(self) -> int:
        return sum(self.reencrypted.values())


def encrypted_columns() -> list[tuple[type, list]]:
    """(model, [EncryptedTextField, ...]) for every concrete installed model that has some."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found


def _rotate_table(model, fields, report: RotationReport, batch_size: int) -> None:
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    columns = ", ".join(qn(f.column) for f in fields)
    label = model._meta.label
    last = None
    while True:
        with connection.cursor() as cursor:
            where = f"WHERE {pk} > %s " if last is not None else ""
            cursor.execute(
                f"SELECT {pk}, {columns} FROM {table} {where}ORDER BY {pk} LIMIT %s",
                ([last] if last is not None else []) + [batch_size],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        last = rows[-1][0]
        report.scanned[label] = report.scanned.get(label, 0) + len(rows)
        for index, f in enumerate(fields, start=1):
            stale = [(row[0], row[index]) for row in rows if not crypto.is_current(row[index])]
            if not stale:
                continue
            updates = [
                (crypto.encrypt(crypto.decrypt(value)), pk_value) for pk_value, value in stale
            ]
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET {qn(f.column)} = %s WHERE {pk} = %s", updates
                )
            key = f"{label}.{f.name}"
            report.reencrypted[key] = report.reencrypted.get(key, 0) + len(updates)


def rotate_data_key(*, batch_size: int = 2000) -> RotationReport:
    """Re-encrypt everything still under SIYU_DATA_KEY_PREVIOUS and re-key the lookup hashes, in
    one transaction (all or nothing)."""
    if not getattr(settings, "SIYU_DATA_KEY_PREVIOUS", ""):
        raise DomainError(
            "Set SIYU_DATA_KEY_PREVIOUS to the key being replaced, and SIYU_DATA_KEY to the new one.",
            code="no_previous_key",
        )
    report = RotationReport()
    with transaction.atomic():
        for model, fields in encrypted_columns():
            _rotate_table(model, fields, report, batch_size)
        publish(DataKeyRotated())
    return report


def remaining_under_old_key() -> int:
    """How many values are still encrypted with another key than the current one."""
    qn = connection.ops.quote_name
    left = 0
    for model, fields in encrypted_columns():
        columns = ", ".join(qn(f.column) for f in fields)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {qn(model._meta.db_table)}")
            for row in cursor.fetchall():
                left += sum(1 for value in row if not crypto.is_current(value))
    return left
