"""Segments: save rules, count and preview their members in the actor's scope, freeze them for a
campaign, and export them with the personal data the actor's role allows.

Evaluation is one parameterised DuckDB query over the segment index (``index.py``): the rule
compiles to a predicate (``rules.compile_rule``) and the row scope of ``customers.services`` is
translated to SQL over the index's owner and store columns (``scope_sql``), never a Python loop
over customers. Materialised members are written in bulk (COPY on PostgreSQL).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit, crypto, events
from siyu.core.access import Actor, Role, authorize
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from . import index
from .events import SegmentMaterialised
from .models import Segment, SegmentMember, SegmentSnapshot
from .rules import Context, InvalidRule, Node, compile_rule, describe, parse_rule

COPY_CHUNK = 100_000
EXPORT_CHUNK = 2000
XLSX_MAX_ROWS = 1_048_575
PREVIEW_MAX = 100


class NoData(Conflict):
    """There is no analytics data to evaluate segments on yet."""

    code = "no_snapshot"


# --- row scope in SQL -------------------------------------------------------------------------------

# Q lookups of customers.services.scope_filter and the index columns they mean
_SCOPE_COLUMNS = {
    "store": "f.store_id",
    "store_id": "f.store_id",
    "owner_user": "f.owner_user_id",
    "owner_user_id": "f.owner_user_id",
    "pk": "f.customer_id",
    "id": "f.customer_id",
}


def scope_sql(actor: Actor) -> tuple[str, list]:
    """The customers app's row scope (``scope_filter``) as SQL over the index's ``facts f``.

    The Q object is translated, not re-implemented, so a change to who sees which customers
    reaches segments too; a lookup this translator does not know raises instead of widening.
    """
    from siyu.customers.services import scope_filter

    return _q_sql(scope_filter(actor))


def _q_sql(q: Q) -> tuple[str, list]:
    if not q.children:
        return "TRUE", []
    parts: list[str] = []
    params: list = []
    for child in q.children:
        if isinstance(child, Q):
            sql, p = _q_sql(child)
        else:
            key, value = child
            name, _sep, lookup = key.partition("__")
            column = _SCOPE_COLUMNS.get(name)
            if column is None:
                raise ImproperlyConfigured(f"segments cannot apply the scope lookup {key!r}")
            lookup = lookup or "exact"
            if lookup == "exact" and value is None or lookup == "isnull" and value:
                sql, p = f"{column} IS NULL", []
            elif lookup == "isnull":
                sql, p = f"{column} IS NOT NULL", []
            elif lookup == "exact":
                sql, p = f"{column} = ?", [value]
            elif lookup == "in":
                values = list(value)
                sql = f"{column} IN ({', '.join('?' * len(values))})" if values else "FALSE"
                p = values
            else:
                raise ImproperlyConfigured(f"segments cannot apply the scope lookup {key!r}")
        parts.append(f"({sql})")
        params.extend(p)
    joined = f" {q.connector} ".join(parts)
    return (f"(NOT ({joined}))" if q.negated else f"({joined})"), params


# --- saved segments ---------------------------------------------------------------------------------


def segments_visible_to(actor: Actor, *, include_archived: bool = False) -> QuerySet[Segment]:
    """Brand-wide segments for everyone with segments.view; a store's own segments for that
    store's staff (and brand-wide roles)."""
    authorize(actor, "segments.view")
    qs = Segment.objects.select_related("store", "created_by")
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    if actor.sees_all_stores:
        return qs
    return qs.filter(Q(store__isnull=True) | Q(store_id=actor.store_id))


def get_segment(actor: Actor, segment_id: int, *, include_archived: bool = False) -> Segment:
    segment = segments_visible_to(actor, include_archived=include_archived).filter(pk=segment_id)
    found = segment.first()
    if found is None:
        raise NotFound(_("No such segment, or not one you may see."))
    return found


def can_edit(actor: Actor, segment: Segment) -> bool:
    if not actor.can("segments.edit"):
        return False
    if actor.is_system or actor.role in (Role.OWNER, Role.OPERATOR):
        return True
    if actor.role == Role.STORE_MANAGER:
        return segment.store_id is not None and segment.store_id == actor.store_id
    return segment.created_by_id is not None and segment.created_by_id == actor.user_id


def _clean(name: str, rule: Any) -> tuple[str, dict]:
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("Give the segment a name.")
    elif len(name) > 100:
        errors["name"] = _("At most 100 characters.")
    try:
        node = parse_rule(rule)
    except InvalidRule as exc:
        errors.update(exc.fields)
        raise InvalidRule(exc.message, fields=errors) from None
    if errors:
        raise ValidationFailed(_("Some fields are invalid."), fields=errors)
    return name, node.as_json()


def create_segment(actor: Actor, *, name: str, rule: Any, description: str = "") -> Segment:
    """Save a rule. A store manager's segment belongs to their store; others' are brand-wide."""
    authorize(actor, "segments.edit")
    name, normal = _clean(name, rule)
    store_id = None if actor.sees_all_stores else actor.store_id
    if not actor.sees_all_stores and not store_id:
        raise PermissionDenied(_("Your account has no store to keep segments for."))
    return Segment.objects.create(
        name=name,
        description=(description or "").strip(),
        rule=normal,
        store_id=store_id,
        created_by_id=actor.user_id,
        updated_by=actor.label[:150],
    )


def update_segment(
    actor: Actor,
    segment_id: int,
    *,
    name: str | None = None,
    rule: Any = None,
    description: str | None = None,
) -> Segment:
    with transaction.atomic():
        segment = get_segment(actor, segment_id)
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        if not can_edit(actor, segment):
            raise PermissionDenied(
                _("Only its author, the store's manager or an operator may change it.")
            )
        new_name, normal = _clean(
            segment.name if name is None else name, segment.rule if rule is None else rule
        )
        segment.name, segment.rule = new_name, normal
        if description is not None:
            segment.description = description.strip()
        segment.updated_by = actor.label[:150]
        segment.save()
    return segment


def archive_segment(actor: Actor, segment_id: int) -> Segment:
    """Archive (not delete): materialised snapshots keep pointing at the rule they came from."""
    with transaction.atomic():
        segment = get_segment(actor, segment_id)
        if not can_edit(actor, segment):
            raise PermissionDenied(
                _("Only its author, the store's manager or an operator may change it.")
            )
        Segment.objects.filter(pk=segment.pk).update(archived_at=timezone.now())
        segment.archived_at = timezone.now()
    return segment


# --- evaluation -------------------------------------------------------------------------------------


@dataclass
class CountResult:
    count: int
    in_scope: int
    seconds: float
    data_as_of: datetime | None
    scores_as_of: date | None
    stale: bool = False

    @property
    def share(self) -> float | None:
        return self.count / self.in_scope if self.in_scope else None

    def as_dict(self) -> dict:
        return {
            "count": self.count,
            "in_scope": self.in_scope,
            "share": self.share,
            "seconds": round(self.seconds, 4),
            "data_as_of": self.data_as_of.isoformat() if self.data_as_of else None,
            "scores_as_of": self.scores_as_of.isoformat() if self.scores_as_of else None,
        }


def _cursor():
    try:
        return index.fresh_connection()
    except index.IndexUnavailable:
        raise NoData(
            _(
                "There is no analytics data yet. The snapshot is built by the hourly refresh and "
                "the nightly scoring (or run `siyu score`)."
            )
        ) from None


def _meta_times(meta: dict) -> tuple[datetime | None, date | None]:
    scores = meta.get("scores_as_of") or ""
    return index.data_time(meta), date.fromisoformat(scores) if scores else None


def _where(actor: Actor, node: Node, ctx: Context | None, meta: dict) -> tuple[str, list]:
    if ctx is None:
        now = Context.now()
        built_on = meta.get("built_on")
        ctx = Context(
            today=now.today,
            tz=now.tz,
            precomputed_on=date.fromisoformat(built_on) if built_on else None,
        )
    compiled = compile_rule(node, ctx)
    scope, scope_params = scope_sql(actor)
    return f"{scope} AND {compiled.sql}", scope_params + compiled.params


def _as_node(rule: Any) -> Node:
    return rule if not isinstance(rule, dict) else parse_rule(rule)


def count(actor: Actor, rule: Any, *, ctx: Context | None = None) -> CountResult:
    """How many customers in the actor's scope match ``rule`` (a JSON rule or parsed nodes)."""
    authorize(actor, "segments.view")
    node = _as_node(rule)
    cur, meta = _cursor()
    where, params = _where(actor, node, ctx, meta)
    scope, scope_params = scope_sql(actor)
    started = time.perf_counter()
    try:
        matched = cur.execute(f"SELECT count(*) FROM facts f WHERE {where}", params).fetchall()
        total = cur.execute(f"SELECT count(*) FROM facts f WHERE {scope}", scope_params).fetchall()
    finally:
        cur.close()
    matched, total = matched[0][0], total[0][0]
    data_as_of, scores_as_of = _meta_times(meta)
    return CountResult(
        count=int(matched),
        in_scope=int(total),
        seconds=time.perf_counter() - started,
        data_as_of=data_as_of,
        scores_as_of=scores_as_of,
    )


def count_segment(actor: Actor, segment_id: int) -> CountResult:
    return count(actor, get_segment(actor, segment_id).rule)


PREVIEW_COLUMNS = (
    "customer_id",
    "source",
    "city",
    "store_id",
    "owner_user_id",
    "in_pool",
    "opted_out",
    "orders",
    "net_spend_fen",
    "last_purchase_on",
    "rfm_group",
    "lifecycle",
    "p_alive",
    "clv_365d_fen",
    "next_purchase_on",
)


@dataclass
class Member:
    customer_id: int
    name: str
    phone: str
    facts: dict = field(default_factory=dict)


@dataclass
class Preview:
    members: list[Member]
    next_after: int | None


def preview(
    actor: Actor,
    rule: Any,
    *,
    limit: int = 20,
    after: int | None = None,
    ctx: Context | None = None,
) -> Preview:
    """A page of matching customers, newest first (keyset on the customer id), with names and
    phones shown as the customers app shows them to this role."""
    authorize(actor, "segments.view")
    authorize(actor, "customers.view")
    limit = max(1, min(int(limit), PREVIEW_MAX))
    node = _as_node(rule)
    cur, meta = _cursor()
    where, params = _where(actor, node, ctx, meta)
    if after is not None:
        where += " AND f.customer_id < ?"
        params.append(int(after))
    try:
        cur.execute(
            f"SELECT {', '.join(PREVIEW_COLUMNS)} FROM facts f WHERE {where} "
            f"ORDER BY f.customer_id DESC LIMIT {limit + 1}",
            params,
        )
        rows = cur.fetchall()
    finally:
        cur.close()
    more = len(rows) > limit
    rows = rows[:limit]
    from siyu.customers import services as customers
    from siyu.customers.models import Customer

    people = Customer.objects.in_bulk([r[0] for r in rows])
    members = []
    for row in rows:
        facts = dict(zip(PREVIEW_COLUMNS, row, strict=True))
        person = people.get(row[0])
        members.append(
            Member(
                customer_id=row[0],
                name=customers.display_name(actor, person) if person else f"#{row[0]}",
                phone=customers.display_phone(actor, person) if person else "",
                facts=facts,
            )
        )
    return Preview(members=members, next_after=rows[-1][0] if more and rows else None)


def member_ids(actor: Actor, rule: Any, *, ctx: Context | None = None) -> tuple[pa.Table, dict]:
    """Every matching customer id (ascending) with its opt-out flag, as Arrow."""
    authorize(actor, "segments.view")
    node = _as_node(rule)
    cur, meta = _cursor()
    where, params = _where(actor, node, ctx, meta)
    try:
        table = cur.sql(
            f"SELECT customer_id, opted_out FROM facts f WHERE {where} ORDER BY customer_id",
            params=params,
        ).to_arrow_table()
    finally:
        cur.close()
    return table, meta


# --- materialisation --------------------------------------------------------------------------------


def _scope_label(actor: Actor) -> str:
    if actor.sees_all_stores:
        return _("whole brand")
    if actor.role == Role.STORE_MANAGER:
        return _("store #%(id)s") % {"id": actor.store_id}
    if actor.role == Role.CLERK:
        return _("customers of %(who)s") % {"who": actor.label}
    return actor.label


def materialise(actor: Actor, segment_id: int, *, channel: str = "") -> SegmentSnapshot:
    """Freeze a segment's members now, for a campaign.

    Members come from the index in one query and are bulk-written; then, in the same
    transaction, they are checked against the main database as it is now (the index can be up
    to an hour old): records merged or erased since, and customers no longer in the actor's
    scope, are left out; opt-outs are flagged. With ``channel``, only customers contactable there
    now (``customers.services.contactable``) stay. Publishes ``SegmentMaterialised``.
    """
    from siyu.customers.models import ConsentChannel, Customer
    from siyu.customers.services import contactable, scope_filter

    authorize(actor, "segments.materialise")
    if channel and channel not in ConsentChannel.values:
        raise ValidationFailed(_("Unknown channel."), fields={"channel": _("Unknown channel.")})
    segment = get_segment(actor, segment_id)
    started = time.perf_counter()
    ids, meta = member_ids(actor, segment.rule)
    data_as_of, scores_as_of = _meta_times(meta)
    with transaction.atomic():
        snap = SegmentSnapshot.objects.create(
            segment=segment,
            rule=segment.rule,
            created_by_id=actor.user_id,
            created_by_label=actor.label[:150],
            scope=_scope_label(actor)[:100],
            channel=channel,
            data_as_of=data_as_of,
            scores_as_of=scores_as_of,
        )
        _write_members(snap.pk, ids)
        members = SegmentMember.objects.filter(snapshot=snap)
        gone = Customer.objects.filter(
            Q(merged_into__isnull=False) | Q(erased_at__isnull=False) | ~scope_filter(actor)
        )
        members.filter(customer__in=gone.values("pk")).delete()
        if channel:
            members.exclude(customer__in=contactable(channel).values("pk")).delete()
        members.filter(customer__opted_out_at__isnull=False, opted_out=False).update(opted_out=True)
        members.filter(customer__opted_out_at__isnull=True, opted_out=True).update(opted_out=False)
        kept = members.count()
        snap.members = kept
        snap.opted_out = members.filter(opted_out=True).count()
        snap.excluded = ids.num_rows - kept
        snap.seconds = time.perf_counter() - started
        snap.save(update_fields=["members", "opted_out", "excluded", "seconds"])
        audit.record(
            actor,
            "segments.materialised",
            obj=snap,
            summary=f"{segment.name}: {kept}",
            data={"segment": segment.pk, "members": kept, "channel": channel},
        )
        events.publish(
            SegmentMaterialised(
                snapshot_id=snap.pk, segment_id=segment.pk, members=kept, channel=channel
            )
        )
    return snap


def _write_members(snapshot_id: int, ids: pa.Table) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany in chunks on SQLite."""
    table = pa.table(
        {
            "snapshot_id": pa.array([snapshot_id] * ids.num_rows, type=pa.int64()),
            "customer_id": ids.column("customer_id").cast(pa.int64()),
            "opted_out": ids.column("opted_out"),
        }
    )
    db_table = SegmentMember._meta.db_table
    columns = "snapshot_id, customer_id, opted_out"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {db_table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                for batch in table.to_batches(COPY_CHUNK):
                    buffer = io.BytesIO()
                    pacsv.write_csv(
                        batch, buffer, write_options=pacsv.WriteOptions(include_header=False)
                    )
                    copy.write(buffer.getvalue())
        else:
            sql = f"INSERT INTO {db_table} ({columns}) VALUES (%s, %s, %s)"
            for batch in table.to_batches(COPY_CHUNK):
                cols = [c.to_pylist() for c in batch.columns]
                cursor.executemany(sql, list(zip(*cols, strict=True)))


def snapshots_of(actor: Actor, segment_id: int) -> QuerySet[SegmentSnapshot]:
    segment = get_segment(actor, segment_id, include_archived=True)
    qs = SegmentSnapshot.objects.filter(segment=segment)
    if not actor.sees_all_stores:
        # a store sees the snapshots its own staff took
        qs = qs.filter(created_by__store_id=actor.store_id)
    return qs


def get_snapshot(actor: Actor, snapshot_id: int) -> SegmentSnapshot:
    snap = SegmentSnapshot.objects.select_related("segment").filter(pk=snapshot_id).first()
    if snap is None:
        raise NotFound(_("No such snapshot."))
    if not snapshots_of(actor, snap.segment_id).filter(pk=snap.pk).exists():
        raise NotFound(_("No such snapshot."))
    return snap


# --- export -----------------------------------------------------------------------------------------

FORMATS = ("csv", "xlsx")
CONSENT_LABEL_KEYS = index.CONSENT_CHANNELS


@dataclass
class ExportPlan:
    """What an export holds: its header and its rows, produced lazily in chunks."""

    header: list[str]
    rows: Iterable[list]
    count: int
    with_name: bool
    with_phone: bool
    masked_phone: bool


EXPORT_FACTS = (
    "customer_id",
    "source",
    "city",
    "province",
    "gender",
    "store_id",
    "owner_user_id",
    "first_seen_on",
    "in_pool",
    "opted_out",
    *(f"consent_{ch}" for ch in index.CONSENT_CHANNELS),
    "orders",
    "net_spend_fen",
    "first_purchase_on",
    "last_purchase_on",
    "rfm_group",
    "lifecycle",
    "value_score",
    "p_alive",
    "clv_90d_fen",
    "clv_365d_fen",
    "next_purchase_on",
    "replenishment_due",
)


def plan_export(
    actor: Actor,
    *,
    rule: Any = None,
    snapshot_id: int | None = None,
    personal_data: bool = True,
    label: str = "",
) -> ExportPlan:
    """Rows of a segment (live rule) or a materialised snapshot, with what the role may see.

    Names need customers.view_pii; phones need customers.export (an operator's right), else a
    masked phone is given to roles that see personal data; analysts get neither. Opt-outs are a
    column. ``personal_data=False`` leaves names and phones out whatever the role. Audited.
    """
    from siyu.customers import services as customers
    from siyu.customers.models import ConsentChannel, Source
    from siyu.staff.models import Store, User

    authorize(actor, "segments.export")
    authorize(actor, "customers.view")
    with_name = personal_data and customers.shows_pii(actor)
    with_phone = personal_data and actor.can("customers.export")
    masked_phone = with_name and not with_phone
    cols = ", ".join(f"f.{c}" for c in EXPORT_FACTS)
    tags_sql = (
        "LEFT JOIN (SELECT ct.customer_id, string_agg(t.name, '、' ORDER BY t.name) AS tags "
        "FROM customer_tags ct JOIN tags t ON t.id = ct.tag_id GROUP BY ct.customer_id) tg "
        "ON tg.customer_id = f.customer_id"
    )
    if snapshot_id is not None:
        snap = get_snapshot(actor, snapshot_id)
        ids = pa.table(
            {
                "customer_id": pa.array(
                    list(
                        SegmentMember.objects.filter(snapshot=snap)
                        .order_by("customer_id")
                        .values_list("customer_id", flat=True)
                    ),
                    type=pa.int64(),
                )
            }
        )
        cur, _meta = _cursor()
        cur.register("_members", ids)
        scope, scope_params = scope_sql(actor)
        table = cur.sql(
            f"SELECT {cols}, tg.tags FROM _members m JOIN facts f ON f.customer_id = m.customer_id "
            f"{tags_sql} WHERE {scope} ORDER BY f.customer_id",
            params=scope_params,
        ).to_arrow_table()
        cur.close()
        source = {"snapshot": snap.pk, "segment": snap.segment_id}
        label = label or snap.segment.name
    else:
        node = _as_node(rule)
        cur, meta = _cursor()
        where, params = _where(actor, node, None, meta)
        try:
            table = cur.sql(
                f"SELECT {cols}, tg.tags FROM facts f {tags_sql} WHERE {where} "
                "ORDER BY f.customer_id",
                params=params,
            ).to_arrow_table()
        finally:
            cur.close()
        source = {"rule": node.as_json()}
    audit.record(
        actor,
        "segments.exported",
        object_type="segments.segment",
        object_id=source.get("segment", ""),
        summary=f"{label}: {table.num_rows}" + (f" ({_('phones')})" if with_phone else ""),
        data=source | {"rows": table.num_rows, "names": with_name, "phones": with_phone},
    )
    header = [_("Customer number")]
    if with_name:
        header.append(_("Name"))
    if with_phone:
        header.append(_("Mobile phone"))
    elif masked_phone:
        header.append(_("Mobile phone (masked)"))
    header += [
        _("First source"), _("City"), _("Province"), _("Gender"), _("Home store"), _("Owner"),
        _("First seen"), _("Tags"), _("Reachable in the pool"), _("Opted out"),
        _("Contactable on"), _("Orders"), _("Spent (yuan)"), _("First purchase"),
        _("Last purchase"), _("RFM group"), _("Lifecycle stage"), _("User value score"),
        _("P(alive)"), _("Expected value, 90 days (yuan)"), _("Expected value, 1 year (yuan)"),
        _("Expected next purchase"), _("Replenishment due"),
    ]  # fmt: skip
    sources = {k: str(v) for k, v in Source.choices}
    channels = {k: str(v) for k, v in ConsentChannel.choices}
    from siyu.analytics.models import Lifecycle, RfmGroup

    rfm = {k: str(v) for k, v in RfmGroup.choices}
    stages = {k: str(v) for k, v in Lifecycle.choices}
    stores = dict(Store.objects.values_list("pk", "name"))
    owners = {
        pk: (display or username)
        for pk, display, username in User.objects.values_list("pk", "display_name", "username")
    }
    yes, no = _("yes"), _("no")
    genders = {"f": _("Female"), "m": _("Male")}

    def yuan(fen):
        return None if fen is None else round(fen / 100, 2)

    def rows() -> Iterator[list]:
        for batch in table.to_batches(EXPORT_CHUNK):
            data = batch.to_pydict()
            ids = data["customer_id"]
            people = {}
            if with_name or with_phone or masked_phone:
                from siyu.customers.models import Customer

                people = {
                    pk: (name, phone)
                    for pk, name, phone in Customer.objects.filter(pk__in=ids).values_list(
                        "pk", "name", "phone"
                    )
                }
            for i, cid in enumerate(ids):
                row: list = [cid]
                name, phone = people.get(cid, ("", ""))
                if with_name:
                    row.append(name)
                if with_phone:
                    row.append(phone or "")
                elif masked_phone:
                    row.append(crypto.mask_phone(phone))
                reach = [channels[ch] for ch in CONSENT_LABEL_KEYS if data[f"consent_{ch}"][i]]
                row += [
                    sources.get(data["source"][i], data["source"][i]),
                    data["city"][i],
                    data["province"][i],
                    genders.get(data["gender"][i], ""),
                    stores.get(data["store_id"][i], ""),
                    owners.get(data["owner_user_id"][i], ""),
                    _iso(data["first_seen_on"][i]),
                    data["tags"][i] or "",
                    yes if data["in_pool"][i] else no,
                    yes if data["opted_out"][i] else no,
                    "" if data["opted_out"][i] else "、".join(reach),
                    data["orders"][i],
                    yuan(data["net_spend_fen"][i]),
                    _iso(data["first_purchase_on"][i]),
                    _iso(data["last_purchase_on"][i]),
                    rfm.get(data["rfm_group"][i], data["rfm_group"][i] or ""),
                    stages.get(data["lifecycle"][i], data["lifecycle"][i] or ""),
                    data["value_score"][i],
                    None if data["p_alive"][i] is None else round(data["p_alive"][i], 4),
                    yuan(data["clv_90d_fen"][i]),
                    yuan(data["clv_365d_fen"][i]),
                    _iso(data["next_purchase_on"][i]),
                    yes if data["replenishment_due"][i] else no,
                ]
                yield row

    return ExportPlan(
        header=[str(h) for h in header],
        rows=rows(),
        count=table.num_rows,
        with_name=with_name,
        with_phone=with_phone,
        masked_phone=masked_phone,
    )


def _iso(value) -> str:
    return value.isoformat() if value else ""


def csv_chunks(plan: ExportPlan) -> Iterator[str]:
    """The export as CSV text chunks (UTF-8 with a BOM so Excel reads Chinese correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow(plan.header)
    for n, row in enumerate(plan.rows, start=1):
        writer.writerow(["" if v is None else v for v in row])
        if n % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_export(plan: ExportPlan, out: BinaryIO, fmt: str) -> None:
    """Write the export to a binary file in ``fmt`` (csv or xlsx)."""
    if fmt == "csv":
        for chunk in csv_chunks(plan):
            out.write(chunk.encode("utf-8"))
        return
    if fmt != "xlsx":
        raise ValidationFailed(_("Use csv or xlsx."), fields={"format": _("Use csv or xlsx.")})
    if plan.count > XLSX_MAX_ROWS:
        raise ValidationFailed(
            _("%(n)s rows do not fit in one Excel sheet; export CSV instead.") % {"n": plan.count},
            fields={"format": _("Too many rows for XLSX.")},
        )
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Members"))
    sheet.append(plan.header)
    for row in plan.rows:
        sheet.append(row)
    book.save(out)


def describe_rule(rule: Any) -> str:
    """A readable one-line summary, with store, clerk and tag names where the rule uses ids."""
    try:
        node = _as_node(rule)
    except InvalidRule:
        return _("(invalid rule)")
    return describe(node, id_labels(node))


def id_labels(node: Node) -> dict[str, dict]:
    """Names for the ids a rule refers to (stores, clerks, tags), in three small queries."""
    from siyu.customers.models import Tag
    from siyu.staff.models import Store, User

    from .rules import walk

    wanted: dict[str, set] = {"store": set(), "owner": set(), "tag": set()}
    for c in walk(node):
        if c.field in wanted and isinstance(c.value, tuple):
            wanted[c.field].update(c.value)
    labels: dict[str, dict] = {}
    if wanted["store"]:
        labels["store"] = dict(
            Store.objects.filter(pk__in=wanted["store"]).values_list("pk", "name")
        )
    if wanted["owner"]:
        labels["owner"] = {
            pk: display or username
            for pk, display, username in User.objects.filter(pk__in=wanted["owner"]).values_list(
                "pk", "display_name", "username"
            )
        }
    if wanted["tag"]:
        labels["tag"] = dict(Tag.objects.filter(pk__in=wanted["tag"]).values_list("pk", "name"))
    return labels
