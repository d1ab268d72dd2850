"""The import engine: stream an export, group rows into orders, resolve buyers, write in bulk.

Rows are read in batches (a few thousand orders); an order's rows never straddle two batches
when they are next to each other in the file, as platforms write them. Per batch: parse and
validate rows (pure, rules.py), look up which orders already exist (one query per few thousand
ids), resolve the new orders' buyers set-wise (customers.bulk), then insert orders, lines and
status history with executemany (SQLite) or COPY (PostgreSQL), update changed orders, and record
one touch per customer. Each batch commits with the job's progress, so the console's progress bar
moves and memory stays bounded; a re-run never creates anything twice because orders are keyed by
(platform, external id).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.core import bulksql, crypto
from siyu.core.access import Actor
from siyu.core.money import split_proportionally
from siyu.customers import bulk as customer_bulk
from siyu.customers.identity import PLATFORM_IDENTITY, normalize_identity
from siyu.orders.models import Channel, Order, OrderLine, OrderStatus, OrderStatusChange

from .models import ImportJob, RejectedRow
from .presets import Preset
from .reader import ExportFile
from .rules import (
    EMPTY_MARKERS,
    BadValue,
    clean_id,
    clean_text,
    parse_datetime,
    parse_fen,
    parse_quantity,
    split_region,
)

log = logging.getLogger(__name__)

S = OrderStatus
_DONE = object()
BATCH_ROWS = 20_000
LOOKUP_CHUNK = 5_000
# forward order of an order's life; an export showing an earlier stage than siyu has is stale
STATUS_RANK = {
    S.PENDING_PAYMENT: 0,
    S.PAID: 1,
    S.PARTIALLY_SHIPPED: 2,
    S.SHIPPED: 2,
    S.DELIVERED: 3,
    S.COMPLETED: 3,
    S.CLOSED: 4,
    S.CANCELLED: 4,
    S.REFUNDED: 5,
}
_ACTIVE_RANK = {S.PENDING_PAYMENT: 0, S.PAID: 1, S.SHIPPED: 2, S.COMPLETED: 3}
_PAID_STATES = frozenset({S.PAID, S.SHIPPED, S.COMPLETED, S.REFUNDED})


@dataclass
class Counters:
    rows: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    customers_created: int = 0
    customers_matched: int = 0
    merge_suggestions: int = 0


@dataclass(slots=True)
class Line:
    row: int
    line_id: str
    title: str
    spec: str
    sku: str
    quantity: int | None
    unit_price: int | None
    amount: int | None
    paid: int | None
    refunded: int | None
    refund_flag: bool
    state: str


@dataclass(slots=True)
class Draft:
    """The rows of one order as read from the file."""

    external_id: str
    first_row: int
    values: dict  # parsed order-level values from the first row
    lines: list[Line] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class Record:
    """An order ready to be written: amounts in fen, times naive UTC."""

    external_id: str
    rows: list[int]
    status: str
    goods: int
    discount: int
    shipping: int
    payable: int
    paid: int
    refunded: int
    placed_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None
    receiver_name: str
    receiver_phone: str
    receiver_address: str
    province: str
    city: str
    district: str
    buyer_note: str
    buyer: customer_bulk.Buyer
    lines: list[
        tuple
    ]  # (line_id, title, spec, sku, qty, unit, amount, discount, paid, refunded, refunded_qty)

    def fingerprint(self) -> tuple:
        return (
            self.status,
            self.goods,
            self.discount,
            self.shipping,
            self.payable,
            self.paid,
            self.refunded,
            _second(self.placed_at),
            _second(self.paid_at),
            _second(self.shipped_at),
            _second(self.completed_at),
            tuple(self.lines),
        )


def _second(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


class SeenOrders:
    """Order ids already written by this job, 8 bytes each (sorted numpy arrays per batch):
    an order whose rows are scattered over the file is merged, not counted twice."""

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []

    @staticmethod
    def _keys(ids: list[str]) -> np.ndarray:
        return np.array(
            [
                int.from_bytes(
                    hashlib.blake2b(i.encode(), digest_size=8).digest(), "little", signed=True
                )
                for i in ids
            ],
            dtype=np.int64,
        )

    def add(self, ids: list[str]) -> None:
        if ids:
            self._arrays.append(np.sort(self._keys(ids)))

    def contains(self, ids: list[str]) -> list[bool]:
        if not ids or not self._arrays:
            return [False] * len(ids)
        keys = self._keys(ids)
        hit = np.zeros(len(ids), dtype=bool)
        for array in self._arrays:
            pos = np.searchsorted(array, keys)
            pos[pos >= len(array)] = len(array) - 1
            hit |= array[pos] == keys
        return hit.tolist()


class Importer:
    """Runs one import job over an opened export file."""

    def __init__(
        self,
        job: ImportJob,
        preset: Preset,
        export: ExportFile,
        *,
        actor: Actor,
        progress: Callable[[ImportJob, Counters], None] | None = None,
        batch_rows: int | None = None,
    ) -> None:
        self.job = job
        self.preset = preset
        self.export = export
        self.actor = actor
        self.progress = progress
        self.batch_rows = batch_rows or BATCH_ROWS
        self.counters = Counters()
        self._pending_bad_rows: list[tuple[int, str]] = []
        # a dry run keeps rejected rows here (its transaction is rolled back)
        self.collect_rejects: list[tuple[int, str]] | None = None
        self.seen = SeenOrders()
        self.hashes = customer_bulk.HashCache()
        self.identity_kind = PLATFORM_IDENTITY.get(preset.platform)
        self.now = timezone.now()
        self.history_note = _("imported from %(platform)s export (import #%(job)s)") % {
            "platform": preset.label,
            "job": job.pk,
        }
        self.touch_detail = _("%(platform)s order import #%(job)s") % {
            "platform": preset.label,
            "job": job.pk,
        }
        cols = export.columns
        self.col = {name: cols.get(name) for name in (*preset.columns, "title")}
        self.title_of = {
            name: export.headers[index] if index is not None else name
            for name, index in self.col.items()
        }
        self.has_refund_info = any(
            self.col.get(n) is not None for n in ("refunded", "line_refunded", "after_sale")
        )
        self.money_per_line = self.col.get("paid") is None and self.col.get("line_paid") is not None
        self.has_line_refunded = self.col.get("line_refunded") is not None
        self.i_order = self.col["order_id"]
        self.i_status = self.col["status"]
        self._prepare_columns()
        self._status_cache: dict = {}

    # --- driving ----------------------------------------------------------------------------------
    # Reading and checking rows (pure Python) runs in a thread of its own, one batch ahead of the
    # database work in the caller's thread: while SQLite writes a batch (its C code releases the
    # GIL) or PostgreSQL indexes it in its own process, the next batch is parsed. The queue holds
    # at most two batches, so memory stays bounded. The caller's thread keeps the database
    # connection and its transaction (a dry run, a test), as Django connections are per thread.

    def run(self) -> Counters:
        bulksql.prepare_for_bulk()
        language = translation.get_language()
        batches: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce() -> None:
            try:
                with translation.override(language):
                    for batch in self._batches():
                        while not stop.is_set():
                            try:
                                batches.put(batch, timeout=0.5)
                                break
                            except queue.Full:
                                continue
                        if stop.is_set():
                            return
                batches.put(_DONE)
            except BaseException as exc:  # handed to the caller's thread, which re-raises it
                batches.put(exc)

        reader = threading.Thread(target=produce, name=f"import-{self.job.pk}-reader", daemon=True)
        reader.start()
        try:
            while True:
                item = batches.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                records, rejects, rows_through = item
                self.counters.rows = rows_through
                self._commit(records, rejects)
        finally:
            stop.set()
            reader.join(timeout=10)
        return self.counters

    def _batches(self):
        """(records, rejected rows, rows read so far) per batch of about `batch_rows` rows."""
        batch: dict[str, Draft] = {}
        batch_rows = rows = 0
        last_id = None
        width = len(self.export.headers)
        for number, row in self.export.rows():
            if len(row) < width:
                row = list(row) + [""] * (width - len(row))
            rows += 1
            batch_rows += 1
            external_id = self._read_row(number, row, batch)
            if batch_rows >= self.batch_rows and external_id is not None and external_id != last_id:
                # `external_id` starts a new order: everything before it is a complete batch
                current = batch.pop(external_id)
                yield (*self._finalize_batch(batch), rows - len(current.rows))
                batch = {external_id: current}
                batch_rows = len(current.rows)
            if external_id is not None:
                last_id = external_id
        yield (*self._finalize_batch(batch), rows)

    def _finalize_batch(
        self, batch: dict[str, Draft]
    ) -> tuple[list[Record], list[tuple[int, str]]]:
        rejects, self._pending_bad_rows = self._pending_bad_rows, []
        records: list[Record] = []
        for draft in batch.values():
            record = self._finalize(draft)
            if isinstance(record, Record):
                records.append(record)
            else:
                rejects.extend(record)
        return records, rejects

    def _commit(self, records: list[Record], rejects: list[tuple[int, str]]) -> None:
        for attempt in range(3):
            try:
                with transaction.atomic():
                    self._write(records, rejects)
                break
            except IntegrityError:
                # someone else created one of these identities or orders at the same moment:
                # look again (the batch is idempotent)
                if attempt == 2:
                    raise
                log.warning("import %s: batch conflicted, retrying", self.job.pk)
        self.seen.add([r.external_id for r in records])

    # --- reading ------------------------------------------------------------------------------------
    # Called once per row of a million-row file: only the columns the file has are read, the
    # common cell shapes take inline fast paths, anything unusual falls back to the careful parsers
    # in rules.py (which also word the errors).

    def _prepare_columns(self) -> None:
        col, title = self.col, self.title_of

        def present(names):
            return [(n, col[n], title[n]) for n in names if col.get(n) is not None]

        self.order_times = present(("paid_at", "shipped_at", "completed_at", "closed_at"))
        self.order_money = present(
            ("goods_amount", "shipping", "discount", "payable", "paid", "refunded")
        )
        limits = {
            "buyer_name": 100,
            "buyer_phone": 40,
            "receiver_name": 100,
            "receiver_phone": 40,
            "province": 30,
            "city": 30,
            "district": 30,
            "street": 60,
            "receiver_address": 500,
            "buyer_note": 500,
        }
        self.order_text = [(n, i, limits[n]) for n, i, _t in present(limits)]
        self.i_tel = col.get("receiver_tel")
        self.i_buyer = col.get("buyer_id")
        self.i_total_qty = col.get("total_quantity")
        self.i_title = col["title"]
        self.i_spec = col.get("spec")
        self.i_sku = col.get("sku")
        self.i_line_id = col.get("line_id")
        self.i_quantity = col.get("quantity")
        self.i_after_sale = col.get("after_sale")
        self.line_money = present(("unit_price", "line_amount", "line_paid", "line_refunded"))
        self.i_placed = col["placed_at"]
        self.offset = self.preset.utc_offset
        self.date_format = self.preset.date_format

    def _id(self, value, name: str) -> str:
        if value.__class__ is str:
            text = value[2:-1] if value[:2] == '="' and value[-1:] == '"' else value
            if text.isdigit() and text.isascii() and len(text) <= 64:
                return text
        return clean_id(value, label=self.title_of[name])

    def _time_cell(self, value, label):
        if (
            value.__class__ is str
            and len(value) == 19
            and value[4] == "-"
            and value[10] == " "
            and self.date_format is None
        ):
            try:
                return datetime.fromisoformat(value) - self.offset
            except ValueError:
                pass
        return parse_datetime(value, label=label, offset=self.offset, fmt=self.date_format)

    def _status(self, word) -> str | None:
        state = self._status_cache.get(word)
        if state is None and word not in self._status_cache:
            state = self._status_cache[word] = (
                self.preset.map_status(str(word)) if word not in (None, "") else None
            )
        return state

    def _read_row(self, number: int, row: list, batch: dict[str, Draft]) -> str | None:
        try:
            external_id = self._id(row[self.i_order], "order_id")
        except BadValue as exc:
            self._pending_bad_rows.append((number, exc.reason))
            return None
        if not external_id:
            self._pending_bad_rows.append(
                (number, _("missing order id (%(column)s)") % {"column": self.title_of["order_id"]})
            )
            return None
        draft = batch.get(external_id)
        if draft is None:
            draft = batch[external_id] = Draft(external_id, number, {})
            self._read_order_values(number, row, draft)
        else:
            self._check_repeated_order_values(number, row, draft)
        draft.rows.append(number)
        try:
            draft.lines.append(self._read_line(number, row))
        except BadValue as exc:
            draft.errors.append((number, exc.reason))
        return external_id

    def _read_order_values(self, number: int, row: list, draft: Draft) -> None:
        v = draft.values
        try:
            placed_at = v["placed_at"] = self._time_cell(
                row[self.i_placed], self.title_of["placed_at"]
            )
            if placed_at is None:
                raise BadValue(
                    _("missing order time (%(column)s)") % {"column": self.title_of["placed_at"]}
                )
            for name, index, label in self.order_times:
                v[name] = self._time_cell(row[index], label)
            for name, index, label in self.order_money:
                v[name] = self._money_cell(row[index], label)
            if self.i_total_qty is not None:
                v["total_quantity"] = parse_quantity(
                    row[self.i_total_qty], label=self.title_of["total_quantity"]
                )
            if self.i_buyer is not None:
                raw = row[self.i_buyer]
                v["buyer_id"] = (
                    clean_id(raw, label=self.title_of["buyer_id"])
                    if isinstance(raw, int | float)
                    else clean_text(raw, 100)
                )
        except BadValue as exc:
            draft.errors.append((number, exc.reason))
            return
        for name, index, limit in self.order_text:
            value = row[index]
            if value.__class__ is str:
                text = value.strip()
                if not text or (text[0] not in "='" and text not in EMPTY_MARKERS):
                    v[name] = text[:limit]
                    continue
            v[name] = clean_text(value, limit)
        if not v.get("receiver_phone") and self.i_tel is not None:
            v["receiver_phone"] = clean_text(row[self.i_tel], 40)
        address = v.get("receiver_address", "")
        province = v.get("province", "")
        city = v.get("city", "")
        if province or city:
            parts = [
                p
                for p in (province, city, v.get("district", ""), v.get("street", ""))
                if p and p not in address
            ]
            v["receiver_address"] = " ".join([*parts, address]).strip()
        elif address:
            v["province"], v["city"], v["district"] = split_region(address)

    @staticmethod
    def _money_cell(value, label):
        if value.__class__ is str:
            whole, dot, frac = value.partition(".")
            if whole.isdigit() and whole.isascii() and len(whole) <= 15:
                if not dot:
                    return int(whole) * 100
                if frac.isdigit() and frac.isascii() and len(frac) <= 2:
                    return int(whole) * 100 + int(frac.ljust(2, "0"))
        return parse_fen(value, label=label)

    def _check_repeated_order_values(self, number: int, row: list, draft: Draft) -> None:
        """An order's later rows repeat its order-level cells (times, amounts). The first row's
        are the ones used, but a later row whose repeated cell is unreadable is still a bad row:
        it is reported, and rejects its order, rather than passing unseen."""
        try:
            self._time_cell(row[self.i_placed], self.title_of["placed_at"])
            for _name, index, label in self.order_times:
                self._time_cell(row[index], label)
            for _name, index, label in self.order_money:
                self._money_cell(row[index], label)
        except BadValue as exc:
            draft.errors.append((number, exc.reason))

    def _read_line(self, number: int, row: list) -> Line:
        word = row[self.i_status]
        state = self._status(word)
        if state is None:
            if word is None or str(word).strip() == "":
                raise BadValue(
                    _("missing order status (%(column)s)") % {"column": self.title_of["status"]}
                )
            raise BadValue(
                _("unknown status %(word)r in %(column)s (map it in a mapping file's [statuses])")
                % {"word": str(word).strip(), "column": self.title_of["status"]}
            )
        title = clean_text(row[self.i_title], 255)
        if not title:
            raise BadValue(
                _("missing product title (%(column)s)") % {"column": self.title_of["title"]}
            )
        line_id = ""
        if self.i_line_id is not None and row[self.i_line_id] not in (None, ""):
            line_id = self._id(row[self.i_line_id], "line_id")
        refund_flag = False
        if self.i_after_sale is not None and row[self.i_after_sale]:
            refund_flag = _word(row[self.i_after_sale]) in self.preset.refund_lookup
        quantity = None
        if self.i_quantity is not None:
            value = row[self.i_quantity]
            if value.__class__ is str and value.isdigit() and value.isascii() and value[0] != "0":
                quantity = int(value)
            else:
                quantity = parse_quantity(value, label=self.title_of["quantity"])
        money = {}
        for name, index, label in self.line_money:
            value = row[index]
            if value.__class__ is str:
                whole, dot, frac = value.partition(".")
                if whole.isdigit() and whole.isascii() and len(whole) <= 15:
                    if not dot:
                        money[name] = int(whole) * 100
                        continue
                    if frac.isdigit() and frac.isascii() and len(frac) <= 2:
                        money[name] = int(whole) * 100 + int(frac.ljust(2, "0"))
                        continue
            money[name] = parse_fen(value, label=label)
        get = money.get
        return Line(
            number,
            line_id,
            title,
            clean_text(row[self.i_spec], 255) if self.i_spec is not None else "",
            clean_text(row[self.i_sku], 64) if self.i_sku is not None else "",
            quantity,
            get("unit_price"),
            get("line_amount"),
            get("line_paid"),
            get("line_refunded"),
            refund_flag,
            state,
        )

    # --- turning rows into an order -------------------------------------------------------------

    def _finalize(self, draft: Draft) -> Record | list[tuple[int, str]]:
        if draft.errors:
            return _reject_order(draft)
        if len(draft.lines) == 1:
            return self._finalize_single(draft)
        return self._finalize_general(draft)

    def _finalize_single(self, draft: Draft) -> Record | list[tuple[int, str]]:
        """`_finalize_general` for the commonest order, one line, in scalar arithmetic (the two are
        checked against each other by the tests)."""
        v = draft.values
        get = v.get
        ln = draft.lines[0]
        status = ln.state
        qty = ln.quantity or get("total_quantity") or 1
        amount = ln.amount
        if amount is None and ln.unit_price is not None:
            amount = ln.unit_price * qty
        shipping = get("shipping") or 0
        discount_col = get("discount") or 0
        goods = get("goods_amount")
        if goods is None and amount is not None:
            goods = amount
        payable = get("payable")
        if payable is None and ln.paid is not None:
            payable = ln.paid + (shipping if self.money_per_line else 0)
        paid_col = get("paid")
        was_paid = status in _PAID_STATES or (
            get("paid_at") is not None and status != S.PENDING_PAYMENT
        )
        if goods is None:
            base = payable if payable is not None else paid_col
            goods = max(0, (base or 0) - shipping + discount_col)
        if payable is None:
            payable = max(0, goods + shipping - discount_col)
        if not was_paid:
            paid = 0
        elif paid_col is not None:
            paid = paid_col
        else:
            paid = payable
        if amount is None:
            amount = goods
        if not was_paid:
            line_paid = 0
        elif ln.paid is not None:
            line_paid = ln.paid
        else:
            line_paid = paid - shipping if paid > shipping else 0
        refunded_flag = ln.refund_flag or status == S.REFUNDED
        line_refunded = None
        if self.has_line_refunded and ln.refunded is not None:
            line_refunded = min(ln.refunded, line_paid)
        elif refunded_flag:
            line_refunded = line_paid
        refunded = get("refunded")
        if refunded is None:
            refunded = line_refunded if line_refunded is not None else 0
        if was_paid and paid > 0:
            if status == S.REFUNDED and refunded == 0:
                refunded = paid
            elif status == S.CLOSED and refunded == 0 and not self.has_refund_info:
                status, refunded = S.REFUNDED, paid
            elif refunded >= paid and status in (S.CLOSED, S.COMPLETED, S.PAID, S.SHIPPED):
                status = S.REFUNDED
        if refunded > paid:
            return self._refund_too_big(draft, refunded, paid)
        if line_refunded is None:
            line_refunded = min(refunded, line_paid)
        unit = ln.unit_price if ln.unit_price is not None else amount // qty
        line = (
            ln.line_id,
            ln.title,
            ln.spec,
            ln.sku,
            qty,
            unit,
            amount,
            amount - line_paid if amount > line_paid else 0,
            line_paid,
            line_refunded,
            qty if line_paid and line_refunded >= line_paid else 0,
        )
        return self._record(
            draft, status, goods, shipping, payable, paid, refunded, was_paid, [line]
        )

    def _refund_too_big(self, draft: Draft, refunded: int, paid: int) -> list[tuple[int, str]]:
        reason = _("refund %(refunded)s is more than the amount paid %(paid)s") % {
            "refunded": _yuan(refunded),
            "paid": _yuan(paid),
        }
        return [(row, reason) for row in draft.rows]

    def _finalize_general(self, draft: Draft) -> Record | list[tuple[int, str]]:
        v = draft.values
        get = v.get
        lines = draft.lines
        if len(lines) > 1:
            # the same sub-order twice (overlapping exports pasted together): keep it once
            seen_ids: set[str] = set()
            kept = []
            for line in lines:
                if line.line_id:
                    if line.line_id in seen_ids:
                        continue
                    seen_ids.add(line.line_id)
                kept.append(line)
            lines = kept
            # status: the furthest stage an active line reached; refunded when every line was
            states = [ln.state for ln in lines]
            active = [s for s in states if s in _ACTIVE_RANK]
            if active:
                status = max(active, key=_ACTIVE_RANK.__getitem__)
            elif S.REFUNDED in states:
                status = S.REFUNDED
            else:
                status = states[0]
            quantities = [ln.quantity or 1 for ln in lines]
        else:
            status = lines[0].state
            quantities = [lines[0].quantity or get("total_quantity") or 1]

        # line amounts before discount
        amounts = [
            ln.amount
            if ln.amount is not None
            else (ln.unit_price * q if ln.unit_price is not None else None)
            for ln, q in zip(lines, quantities, strict=True)
        ]
        shipping = get("shipping") or 0
        discount_col = get("discount") or 0
        goods = get("goods_amount")
        if goods is None and None not in amounts:
            goods = sum(amounts)
        line_paid_given = [ln.paid for ln in lines]
        any_line_paid = line_paid_given != [None] * len(lines)
        payable = get("payable")
        if payable is None and any_line_paid:
            payable = sum(p or 0 for p in line_paid_given)
            if self.money_per_line:
                payable += shipping
        paid_col = get("paid")
        was_paid = status in _PAID_STATES or (
            get("paid_at") is not None and status != S.PENDING_PAYMENT
        )
        if goods is None:
            base = payable if payable is not None else paid_col
            goods = max(0, (base or 0) - shipping + discount_col)
        if payable is None:
            payable = max(0, goods + shipping - discount_col)
        if not was_paid:
            paid = 0
        elif paid_col is not None:
            paid = paid_col
        else:
            paid = payable
        if None in amounts:
            # lines without an amount share what is left of the goods total by quantity
            unknown = [i for i, a in enumerate(amounts) if a is None]
            left = max(0, goods - sum(a for a in amounts if a is not None))
            for i, share in zip(
                unknown, _split(left, [quantities[i] for i in unknown]), strict=True
            ):
                amounts[i] = share
        # what each line was paid
        if not was_paid:
            line_paid = [0] * len(lines)
        elif None not in line_paid_given:
            line_paid = line_paid_given
        else:
            goods_paid = max(0, paid - shipping)
            line_paid = _split(goods_paid, amounts if sum(amounts) > 0 else quantities)

        # refunds
        refunded_col = get("refunded")
        line_refunded: list[int] | None = None
        if self.col.get("line_refunded") is not None and any(
            ln.refunded is not None for ln in lines
        ):
            line_refunded = [
                min(ln.refunded or 0, p) for ln, p in zip(lines, line_paid, strict=True)
            ]
        elif any(ln.refund_flag or ln.state == S.REFUNDED for ln in lines):
            line_refunded = [
                p if (ln.refund_flag or ln.state == S.REFUNDED) else 0
                for ln, p in zip(lines, line_paid, strict=True)
            ]
        if refunded_col is not None:
            refunded = refunded_col
        elif line_refunded is not None:
            refunded = sum(line_refunded)
        else:
            refunded = 0
        if was_paid and paid > 0:
            if status == S.REFUNDED and refunded == 0:
                refunded = paid
            elif status == S.CLOSED and refunded == 0 and not self.has_refund_info:
                # a paid order the platform closed: the money went back
                status, refunded = S.REFUNDED, paid
            elif refunded >= paid and status in (S.CLOSED, S.COMPLETED, S.PAID, S.SHIPPED):
                status = S.REFUNDED
        if refunded > paid:
            return self._refund_too_big(draft, refunded, paid)
        if line_refunded is None:
            if refunded:
                line_refunded = [
                    min(r, p) for r, p in zip(_split(refunded, line_paid), line_paid, strict=True)
                ]
            else:
                line_refunded = [0] * len(lines)

        rows_out = []
        for ln, qty, amount, lp, lr in zip(
            lines, quantities, amounts, line_paid, line_refunded, strict=True
        ):
            unit = ln.unit_price if ln.unit_price is not None else amount // qty
            rows_out.append(
                (
                    ln.line_id,
                    ln.title,
                    ln.spec,
                    ln.sku,
                    qty,
                    unit,
                    amount,
                    amount - lp if amount > lp else 0,
                    lp,
                    lr,
                    qty if lp and lr >= lp else 0,
                )
            )

        return self._record(
            draft, status, goods, shipping, payable, paid, refunded, was_paid, rows_out
        )

    def _record(
        self,
        draft: Draft,
        status: str,
        goods: int,
        shipping: int,
        payable: int,
        paid: int,
        refunded: int,
        was_paid: bool,
        lines: list[tuple],
    ) -> Record:
        v = draft.values
        get = v.get
        # the buyer
        identities = []
        kind = self.identity_kind
        buyer_id = get("buyer_id")
        if kind and buyer_id:
            value = normalize_identity(kind, buyer_id)
            if value:
                identities.append((kind, value))
        phone = ""
        for raw in (get("buyer_phone"), get("receiver_phone")):
            if raw and "*" not in raw:
                normalized = normalize_identity("phone", raw)
                if normalized and normalized != phone:
                    identities.append(("phone", normalized))
                    phone = phone or normalized
        receiver_name = get("receiver_name", "")
        name = (
            receiver_name
            if receiver_name and "*" not in receiver_name
            else get("buyer_name") or buyer_id or receiver_name
        )
        placed_at = v["placed_at"]
        province = get("province", "")
        city = get("city", "")
        return Record(
            draft.external_id,
            draft.rows,
            status,
            goods,
            # everything that took the price down: shop and platform coupons, adjustments
            max(0, goods + shipping - (paid if was_paid and paid else payable)),
            shipping,
            payable,
            paid,
            refunded,
            placed_at,
            get("paid_at") if was_paid else None,
            get("shipped_at"),
            get("completed_at"),
            get("closed_at"),
            receiver_name,
            get("receiver_phone", ""),
            get("receiver_address", ""),
            province,
            city,
            get("district", ""),
            get("buyer_note", ""),
            customer_bulk.Buyer(
                draft.external_id, tuple(identities), placed_at, name, phone, province, city
            ),
            lines,
        )

    # --- writing ------------------------------------------------------------------------------------

    def _write(self, records: list[Record], rejects: list[tuple[int, str]]) -> None:
        platform = self.preset.platform
        counters = Counters()
        scattered_flags = self.seen.contains([r.external_id for r in records])
        existing = self._existing(records)
        new: list[Record] = []
        changed: list[tuple[Record, dict]] = []
        scattered: list[tuple[Record, dict]] = []
        for record, was_seen in zip(records, scattered_flags, strict=True):
            current = existing.get(record.external_id)
            if current is None:
                new.append(record)
            elif was_seen:
                scattered.append((record, current))
            elif current["fingerprint"] == record.fingerprint():
                counters.duplicates += 1
            elif STATUS_RANK.get(record.status, 0) < STATUS_RANK.get(current["status"], 0):
                counters.duplicates += 1  # an older export than what siyu has
            else:
                changed.append((record, current))

        earliest: dict[int, datetime] = {}
        if new:
            resolution = customer_bulk.resolve_buyers(
                [r.buyer for r in new],
                source=platform if platform in PLATFORM_IDENTITY else "platform",
                source_detail=self.touch_detail,
                # stored data, not UI text: the same in every language
                suggestion_reason=f"{platform} import #{self.job.pk}",
                hashes=self.hashes,
            )
            counters.customers_created += len(resolution.created)
            counters.merge_suggestions += resolution.suggestions
            self._insert_orders(new, resolution.customer_of)
            counters.orders_created += len(new)
            for record in new:
                cid = resolution.customer_of[record.external_id]
                if cid not in earliest or record.placed_at < earliest[cid]:
                    earliest[cid] = record.placed_at
        if changed:
            # an erased customer's orders keep their amounts, never their personal data again
            erased = customer_bulk.erased_among(current["customer_id"] for _r, current in changed)
            self._update_orders(changed, erased)
            counters.orders_updated += len(changed)
            for record, current in changed:
                cid = current["customer_id"]
                if cid in erased:
                    continue
                if cid not in earliest or record.placed_at < earliest[cid]:
                    earliest[cid] = record.placed_at
        if scattered:
            counters.duplicates += self._merge_scattered(scattered)
        if earliest:
            customer_bulk.record_touches(
                earliest,
                source=platform if platform in PLATFORM_IDENTITY else "platform",
                ref=self.job.touch_ref,
                detail=self.touch_detail,
            )
        if rejects and self.collect_rejects is not None:
            self.collect_rejects.extend(rejects)
        elif rejects:
            RejectedRow.objects.bulk_create(
                [
                    RejectedRow(job_id=self.job.pk, line=line, reason=reason[:500])
                    for line, reason in rejects
                ],
                batch_size=2000,
            )
        counters.rejected = len(rejects)
        # commit the counts with the batch
        c = self.counters
        c.orders_created += counters.orders_created
        c.orders_updated += counters.orders_updated
        c.duplicates += counters.duplicates
        c.rejected += counters.rejected
        c.customers_created += counters.customers_created
        c.merge_suggestions += counters.merge_suggestions
        if self.progress is not None:
            self.progress(self.job, c)

    def _existing(self, records: list[Record]) -> dict[str, dict]:
        """The batch's orders siyu already has, with their lines (one query per few thousand)."""
        ids = [r.external_id for r in records]
        found: dict[str, dict] = {}
        table = Order._meta.db_table
        for start in range(0, len(ids), LOOKUP_CHUNK):
            rows = bulksql.fetch_in(
                "SELECT id, external_id, customer_id, status, goods_amount_fen, discount_fen, "
                "shipping_fen, payable_fen, paid_fen, refunded_fen, placed_at, paid_at, "
                f"shipped_at, completed_at FROM {table} "
                "WHERE platform = %s AND NOT (external_id = '') AND external_id {in}",
                ids[start : start + LOOKUP_CHUNK],
                [self.preset.platform],
            )
            for row in rows:
                found[row[1]] = {
                    "id": row[0],
                    "customer_id": row[2],
                    "status": row[3],
                    "order": row[3:],
                }
        if not found:
            return found
        lines: dict[int, list[tuple]] = {}
        order_ids = [v["id"] for v in found.values()]
        line_table = OrderLine._meta.db_table
        for start in range(0, len(order_ids), LOOKUP_CHUNK):
            for row in bulksql.fetch_in(
                "SELECT order_id, external_line_id, product_title, spec_text, external_sku, "
                "quantity, unit_price_fen, amount_fen, discount_fen, paid_fen, refunded_fen, "
                f"refunded_quantity FROM {line_table} WHERE order_id {{in}} ORDER BY order_id, line_no",
                order_ids[start : start + LOOKUP_CHUNK],
            ):
                lines.setdefault(row[0], []).append(tuple(row[1:]))
        when = bulksql.parse_db_datetime
        for value in found.values():
            o = value["order"]
            value["lines"] = lines.get(value["id"], [])
            value["fingerprint"] = (
                *o[:7],
                _second(when(o[7])),
                _second(when(o[8])),
                _second(when(o[9])),
                _second(when(o[10])),
                tuple(value["lines"]),
            )
        return found

    def _order_number(self, external_id: str) -> str:
        number = f"{self.preset.number_prefix}{external_id}"
        if len(number) > 40:
            digest = hashlib.sha1(external_id.encode()).hexdigest()[:20]
            number = f"{self.preset.number_prefix}-{digest}"
        return number

    def _insert_orders(self, records: list[Record], customer_of: dict) -> None:
        ids = bulksql.allocate_ids(Order, len(records))
        dt = bulksql.datetime_formatter()
        encrypt = crypto.encryptor()
        now = dt(self.now)
        order_shape = bulksql.RowShape(
            Order,
            [
                "id",
                "number",
                "customer",
                "channel",
                "platform",
                "external_id",
                "status",
                "goods_amount_fen",
                "discount_fen",
                "shipping_fen",
                "payable_fen",
                "paid_fen",
                "refunded_fen",
                "placed_at",
                "paid_at",
                "shipped_at",
                "completed_at",
                "closed_at",
                "receiver_name",
                "receiver_phone",
                "receiver_address",
                "receiver_province",
                "receiver_city",
                "receiver_district",
                "buyer_note",
                "created_at",
                "updated_at",
            ],
        )
        platform = self.preset.platform
        order_rows = []
        line_rows = []
        history_rows = []
        actor = self.actor
        actor_id = actor.user_id if actor.kind == "staff" else None
        for order_id, r in zip(ids, records, strict=True):
            order_rows.append(
                (
                    order_id,
                    self._order_number(r.external_id),
                    customer_of[r.external_id],
                    Channel.PLATFORM,
                    platform,
                    r.external_id,
                    r.status,
                    r.goods,
                    r.discount,
                    r.shipping,
                    r.payable,
                    r.paid,
                    r.refunded,
                    dt(r.placed_at),
                    dt(r.paid_at),
                    dt(r.shipped_at),
                    dt(r.completed_at),
                    dt(r.closed_at),
                    encrypt(r.receiver_name),
                    encrypt(r.receiver_phone),
                    encrypt(r.receiver_address),
                    r.province,
                    r.city,
                    r.district,
                    r.buyer_note,
                    now,
                    now,
                )
            )
            for line_no, line in enumerate(r.lines, start=1):
                line_rows.append((order_id, line_no, *line))
            history_rows.append(
                (
                    order_id,
                    "",
                    r.status,
                    actor.kind,
                    actor_id,
                    actor.label[:150],
                    self.history_note,
                    now,
                )
            )
        order_shape.insert(order_rows)
        self._insert_lines(line_rows)
        self._insert_history(history_rows)

    def _insert_lines(self, rows: list[tuple]) -> None:
        bulksql.RowShape(
            OrderLine,
            [
                "order",
                "line_no",
                "external_line_id",
                "product_title",
                "spec_text",
                "external_sku",
                "quantity",
                "unit_price_fen",
                "amount_fen",
                "discount_fen",
                "paid_fen",
                "refunded_fen",
                "refunded_quantity",
            ],
        ).insert(rows)

    def _insert_history(self, rows: list[tuple]) -> None:
        bulksql.RowShape(
            OrderStatusChange,
            [
                "order",
                "from_status",
                "to_status",
                "actor_kind",
                "actor_id",
                "actor_label",
                "note",
                "created_at",
            ],
        ).insert(rows)

    def _update_orders(self, changed: list[tuple[Record, dict]], erased: set[int]) -> None:
        dt = bulksql.datetime_formatter()
        encrypt = crypto.encryptor()
        now = dt(self.now)
        actor = self.actor
        actor_id = actor.user_id if actor.kind == "staff" else None
        updates = []
        line_rows = []
        history_rows = []
        for r, current in changed:
            order_id = current["id"]
            private = current["customer_id"] not in erased
            updates.append(
                (
                    r.status,
                    r.goods,
                    r.discount,
                    r.shipping,
                    r.payable,
                    r.paid,
                    r.refunded,
                    dt(r.placed_at),
                    dt(r.paid_at),
                    dt(r.shipped_at),
                    dt(r.completed_at),
                    dt(r.closed_at),
                    encrypt(r.receiver_name) if private else "",
                    encrypt(r.receiver_phone) if private else "",
                    encrypt(r.receiver_address) if private else "",
                    r.province,
                    r.city,
                    r.district,
                    r.buyer_note if private else "",
                    now,
                    order_id,
                )
            )
            for line_no, line in enumerate(r.lines, start=1):
                line_rows.append((order_id, line_no, *line))
            history_rows.append(
                (
                    order_id,
                    current["status"],
                    r.status,
                    actor.kind,
                    actor_id,
                    actor.label[:150],
                    self.history_note,
                    now,
                )
            )
        columns = [
            "status",
            "goods_amount_fen",
            "discount_fen",
            "shipping_fen",
            "payable_fen",
            "paid_fen",
            "refunded_fen",
            "placed_at",
            "paid_at",
            "shipped_at",
            "completed_at",
            "closed_at",
            "receiver_name",
            "receiver_phone",
            "receiver_address",
            "receiver_province",
            "receiver_city",
            "receiver_district",
            "buyer_note",
            "updated_at",
        ]
        table = Order._meta.db_table
        order_ids = [u[-1] for u in updates]
        if bulksql.is_postgres():
            types = [
                "text",
                *["bigint"] * 6,
                *["timestamptz"] * 5,
                *["text"] * 7,
                "timestamptz",
                "bigint",
            ]
            assignments = ", ".join(f"{c} = t.{c}" for c in columns)
            unnest = ", ".join(f"%s::{t}[]" for t in types)
            bulksql.execute_unnest(
                f"UPDATE {table} AS o SET {assignments} FROM unnest({unnest}) "
                f"AS t({', '.join(columns)}, id) WHERE o.id = t.id",
                bulksql.transpose(updates, len(types)),
                types,
            )
        else:
            assignments = ", ".join(f"{c} = ?" for c in columns)
            bulksql.execute_many(f"UPDATE {table} SET {assignments} WHERE id = ?", updates)
        for start in range(0, len(order_ids), LOOKUP_CHUNK):
            OrderLine.objects.filter(order_id__in=order_ids[start : start + LOOKUP_CHUNK]).delete()
        self._insert_lines(line_rows)
        self._insert_history(history_rows)

    def _merge_scattered(self, scattered: list[tuple[Record, dict]]) -> int:
        """Rows of an order written earlier in this job, found further down the file: add the
        lines that are new to it. Returns how many were pure repeats (duplicates)."""
        repeats = 0
        new_lines = []
        for record, current in scattered:
            have = current["lines"]
            have_ids = {ln[0] for ln in have if ln[0]}
            have_content = {ln[1:] for ln in have}
            extra = [
                ln
                for ln in record.lines
                if not ((ln[0] and ln[0] in have_ids) or (not ln[0] and ln[1:] in have_content))
            ]
            if not extra:
                repeats += 1
                continue
            start = len(have) + 1
            for offset, line in enumerate(extra):
                new_lines.append((current["id"], start + offset, *line))
            o = current["order"]
            added_amount = sum(ln[6] for ln in extra)
            added_paid = sum(ln[8] for ln in extra) if self.money_per_line else 0
            added_refund = sum(ln[9] for ln in extra) if self.money_per_line else 0
            Order.objects.filter(pk=current["id"]).update(
                goods_amount_fen=o[1] + added_amount,
                payable_fen=o[4] + added_paid,
                paid_fen=o[5] + added_paid,
                refunded_fen=o[6] + added_refund,
                updated_at=self.now,
            )
        if new_lines:
            self._insert_lines(new_lines)
        return repeats


def _split(total: int, weights: list[int]) -> list[int]:
    if len(weights) == 1:
        return [total]
    return split_proportionally(total, weights)


def _word(value: object) -> str:
    from .rules import clean_word

    return clean_word(value)


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def _reject_order(draft: Draft) -> list[tuple[int, str]]:
    """One bad row spoils its order: every row of it is reported, the bad ones with their reason."""
    bad: dict[int, str] = {}
    for row, reason in draft.errors:
        bad[row] = f"{bad[row]}; {reason}" if row in bad else reason
    first_bad = min(bad)
    out = []
    for row in draft.rows:
        if row in bad:
            out.append((row, bad[row]))
        else:
            out.append(
                (
                    row,
                    _("order %(order)s not imported: line %(line)s has an error")
                    % {"order": draft.external_id, "line": first_bad},
                )
            )
    return out
