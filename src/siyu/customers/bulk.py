"""Set-based identity resolution for bulk paths (platform order imports): thousands of buyers per
call, a handful of queries, no query per buyer.

The rules are the pool's rules, as single-record resolution applies them (services.register_contact,
identity.py): buyers sharing a strong identity are one person. Within a batch, buyers are joined by
union-find over their identities; each group then attaches to the existing customer its identities
point to, or becomes a new customer. A group whose identities point to two existing customers
attaches to the one `identity.choose_customer` ranks first and a MergeSuggestion is opened for an
operator — records are never merged silently. Merged-away records (tombstones) are never matched:
their identities lead to the survivor. Erased customers (PIPL) are never matched either. A matched
customer's blank name, region and phone are filled in, as single-record resolution does.

Callers run inside `transaction.atomic()`; this module writes customers, identities, touches and
merge suggestions directly with `siyu.core.bulksql`. It publishes no per-customer events: the bulk
caller publishes one event for the batch (orders.events.OrdersImported).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils import timezone

from siyu.core import bulksql, crypto

from .identity import choose_customer, suggestion_pair
from .models import Customer, Identity, IdentityKind, MergeSuggestion, Touch

LOOKUP_CHUNK = 5000
PHONE = IdentityKind.PHONE.value


@dataclass
class Buyer:
    """One buyer as an import sees them. `identities` are already normalised (kind, value) pairs
    (normalize_identity); masked or malformed values must have been dropped by the caller."""

    key: Hashable
    identities: tuple[tuple[str, str], ...]
    seen_at: datetime  # naive UTC or aware: when this buyer was first seen (earliest order)
    name: str = ""
    phone: str = ""  # mobile kept on the customer record (encrypted); default: a phone identity
    province: str = ""
    city: str = ""

    @property
    def mobile(self) -> str:
        return self.phone or next((v for k, v in self.identities if k == PHONE), "")


@dataclass
class Resolution:
    customer_of: dict[Hashable, int] = field(default_factory=dict)
    created: list[int] = field(default_factory=list)
    matched: set[int] = field(default_factory=set)
    suggestions: int = 0


class HashCache(dict):
    """Identity hashes computed once per value (a repeat buyer appears in many rows). Same digest
    as customers.identity.identity_hash, with the key looked up once."""

    def __init__(self) -> None:
        super().__init__()
        self._hash = crypto.lookup_hasher()

    def of(self, kind: str, value: str) -> str:
        key = (kind, value)
        found = self.get(key)
        if found is None:
            found = self[key] = self._hash(kind, value)
        return found


def resolve_buyers(
    buyers: Sequence[Buyer],
    *,
    source: str,
    source_detail: str = "",
    suggestion_reason: str = "",
    hashes: HashCache | None = None,
) -> Resolution:
    """Attach every buyer to a customer (existing or new); return who went where.

    `suggestion_reason` starts the reason of any MergeSuggestion opened (stored data, not UI text:
    keep it language-neutral, e.g. "tmall import #12")."""
    result = Resolution()
    if not buyers:
        return result
    hashes = hashes if hashes is not None else HashCache()

    # 1. every identity of the batch, hashed once; nodes 0..n-1 are buyers, then identities
    node_of: dict[tuple[str, str], int] = {}
    identity_value: list[tuple[str, str, str]] = []  # node - n -> (kind, hash, value)
    n = len(buyers)
    parent = list(range(n))
    buyer_nodes: list[tuple[int, ...]] = []
    of = hashes.of
    for buyer in buyers:
        nodes = []
        for kind, value in buyer.identities:
            key = (kind, of(kind, value))
            node = node_of.get(key)
            if node is None:
                node = node_of[key] = len(parent)
                parent.append(node)
                identity_value.append((kind, key[1], value))
            nodes.append(node)
        buyer_nodes.append(tuple(nodes))

    # 2. which of them the pool already knows, in chunks, per kind
    existing_owner = _existing_owners(list(node_of))

    # 3. union-find: buyers sharing an identity are one person
    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for index, nodes in enumerate(buyer_nodes):
        for node in nodes:
            a, b = find(index), find(node)
            if a != b:
                parent[b] = a

    groups: dict[int, list[int]] = defaultdict(list)
    group_nodes: dict[int, set[int]] = defaultdict(set)
    for index, nodes in enumerate(buyer_nodes):
        root = find(index)
        groups[root].append(index)
        if nodes:
            group_nodes[root].update(nodes)

    # 4. decide per group: an existing customer (ranked like single-record resolution) or new
    now = timezone.now()
    new_groups: list[int] = []
    chosen: dict[int, int] = {}
    pairs: dict[tuple[int, int], str] = {}
    for root in groups:
        matches = []
        for node in group_nodes.get(root, ()):
            kind, digest, _value = identity_value[node - n]
            owner = existing_owner.get((kind, digest))
            if owner is not None and owner > 0:
                matches.append((kind, owner))
        target, others = choose_customer(matches)
        if target is None:
            new_groups.append(root)
            continue
        chosen[root] = target
        result.matched.add(target)
        for other in others:
            pair = suggestion_pair(target, other)
            if pair not in pairs:
                kinds_of = defaultdict(set)
                for kind, cid in matches:
                    kinds_of[cid].add(kind)
                pairs[pair] = (
                    f"{suggestion_reason or source}: "
                    f"{'+'.join(sorted(kinds_of[target]))} → #{target}, "
                    f"{'+'.join(sorted(kinds_of[other]))} → #{other}"
                )

    # 5. create the new customers
    encrypt = crypto.encryptor()
    if new_groups:
        ids = bulksql.allocate_ids(Customer, len(new_groups))
        shape = bulksql.RowShape(
            Customer,
            [
                "id",
                "name",
                "phone",
                "phone_hash",
                "phone_last4",
                "source",
                "source_detail",
                "first_seen_at",
                "province",
                "city",
                "created_at",
                "updated_at",
            ],
        )
        to_sql = bulksql.datetime_formatter()
        now_sql = to_sql(now)
        detail = source_detail[:100]
        rows = []
        for root, customer_id in zip(new_groups, ids, strict=True):
            chosen[root] = customer_id
            members = [buyers[i] for i in groups[root]]
            if len(members) == 1:
                b = members[0]
                name, phone, province, city = b.name, b.mobile, b.province, b.city
                first_seen = _naive_utc(b.seen_at)
            else:
                name = next((b.name for b in members if b.name), "")
                phone = next((b.mobile for b in members if b.mobile), "")
                province = next((b.province for b in members if b.province), "")
                city = next((b.city for b in members if b.city), "")
                first_seen = min(_naive_utc(b.seen_at) for b in members)
            rows.append(
                (
                    customer_id,
                    name[:100],
                    encrypt(phone) if phone else "",
                    of(PHONE, phone) if phone else "",
                    phone[-4:],
                    source,
                    detail,
                    to_sql(first_seen),
                    province[:30],
                    city[:30],
                    now_sql,
                    now_sql,
                )
            )
        shape.insert(rows)
        result.created = ids

    # 6. identities the pool did not know yet go to the group's customer
    identity_rows = []
    for root, nodes in group_nodes.items():
        customer_id = chosen[root]
        for node in nodes:
            kind, digest, value = identity_value[node - n]
            if (kind, digest) not in existing_owner:
                identity_rows.append((customer_id, kind, digest, encrypt(value), source))
    if identity_rows:
        now_sql = bulksql.datetime_sql(now)
        shape = bulksql.RowShape(
            Identity, ["customer", "kind", "value_hash", "value", "source", "created_at"]
        )
        shape.insert(row + (now_sql,) for row in identity_rows)

    # 7. matched customers: fill in what their record lacks (name, region, phone)
    if result.matched:
        blanks = {}
        for root, customer_id in chosen.items():
            if customer_id in result.matched and customer_id not in blanks:
                members = [buyers[i] for i in groups[root]]
                blanks[customer_id] = (
                    next((b.name for b in members if b.name), "")[:100],
                    next((b.province for b in members if b.province), "")[:30],
                    next((b.city for b in members if b.city), "")[:30],
                    next((b.mobile for b in members if b.mobile), ""),
                )
        _fill_blanks(blanks, hashes, encrypt)

    # 8. two existing customers behind one buyer: ask an operator
    if pairs:
        result.suggestions = _suggest_merges(pairs, now)

    for root, members in groups.items():
        customer_id = chosen[root]
        for index in members:
            result.customer_of[buyers[index].key] = customer_id
    return result


def record_touches(
    earliest: dict[int, datetime],
    *,
    source: str,
    ref: str,
    detail: str = "",
) -> None:
    """One Touch per customer for `ref` (an import job), at the earliest time seen. A customer
    shown buying before their first_seen_at was first seen here: first_seen_at, source and
    source_detail move to this contact (the single-record rule)."""
    if not earliest:
        return
    rows = [(cid, _naive_utc(at)) for cid, at in earliest.items()]
    detail = detail[:200]
    touch_table = Touch._meta.db_table
    customer_table = Customer._meta.db_table
    if bulksql.is_postgres():
        ids, times = [r[0] for r in rows], [r[1].replace(tzinfo=UTC) for r in rows]
        bulksql.execute_unnest(
            f"""
            INSERT INTO {touch_table} (customer_id, source, detail, occurred_at, ref)
            SELECT t.cid, %s, %s, t.at, %s FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(cid, at)
            ON CONFLICT (customer_id, source, ref) WHERE NOT (ref = '')
            DO UPDATE SET occurred_at = LEAST({touch_table}.occurred_at, EXCLUDED.occurred_at)
            """,
            [source, detail, ref, ids, times],
            (),
        )
        bulksql.execute_unnest(
            f"""
            UPDATE {customer_table} AS c
            SET first_seen_at = t.at, source = %s, source_detail = %s
            FROM unnest(%s::bigint[], %s::timestamptz[]) AS t(cid, at)
            WHERE c.id = t.cid AND c.first_seen_at > t.at
            """,
            [source, detail[:100], ids, times],
            (),
        )
        return
    to_sql = bulksql.datetime_formatter()
    sql_rows = [(cid, source, detail, to_sql(at), ref) for cid, at in rows]
    bulksql.execute_many(
        f"""
        INSERT INTO {touch_table} (customer_id, source, detail, occurred_at, ref)
        VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (customer_id, source, ref) WHERE NOT (ref = '')
        DO UPDATE SET occurred_at = MIN(occurred_at, excluded.occurred_at)
        """,
        sql_rows,
    )
    bulksql.execute_many(
        f"UPDATE {customer_table} SET first_seen_at = ?, source = ?, source_detail = ? "
        "WHERE id = ? AND first_seen_at > ?",
        [(r[3], source, detail[:100], r[0], r[3]) for r in sql_rows],
    )


def touched_customers(*, source: str, ref: str) -> int:
    """How many customers carry a touch for `ref` (an import job's customers, new and matched)."""
    return Touch.objects.filter(source=source, ref=ref).count()


def erased_among(customer_ids: Iterable[int]) -> set[int]:
    """Which of these customers were erased (PIPL): bulk writers must not give them data again."""
    ids = list(set(customer_ids))
    found: set[int] = set()
    table = Customer._meta.db_table
    for start in range(0, len(ids), LOOKUP_CHUNK):
        found.update(
            row[0]
            for row in bulksql.fetch_in(
                f"SELECT id FROM {table} WHERE erased_at IS NOT NULL AND id {{in}}",
                ids[start : start + LOOKUP_CHUNK],
            )
        )
    return found


# --- internals ------------------------------------------------------------------------------------


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _existing_owners(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(kind, hash) -> the active customer that identity belongs to; -1 when it belongs to an
    erased customer (known to the pool, but never matched)."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, digest in keys:
        by_kind[kind].append(digest)
    found: dict[tuple[str, str], int] = {}
    table = Identity._meta.db_table
    for kind, digests in by_kind.items():
        for start in range(0, len(digests), LOOKUP_CHUNK):
            for digest, customer_id in bulksql.fetch_in(
                f"SELECT value_hash, customer_id FROM {table} WHERE kind = %s AND value_hash {{in}}",
                digests[start : start + LOOKUP_CHUNK],
                [kind],
            ):
                found[(kind, digest)] = customer_id
    if not found:
        return found
    survivors = _survivors(set(found.values()))
    return {key: survivors[cid] for key, cid in found.items()}


def _survivors(customer_ids: set[int]) -> dict[int, int]:
    """Follow merged_into to the surviving record; erased customers map to -1."""
    state: dict[int, tuple[int | None, bool]] = {}
    pending = set(customer_ids)
    table = Customer._meta.db_table
    while pending:
        batch = list(pending)
        pending = set()
        for start in range(0, len(batch), LOOKUP_CHUNK):
            for cid, merged_into, erased_at in bulksql.fetch_in(
                f"SELECT id, merged_into_id, erased_at FROM {table} WHERE id {{in}}",
                batch[start : start + LOOKUP_CHUNK],
            ):
                state[cid] = (merged_into, erased_at is not None)
                if merged_into is not None and merged_into not in state:
                    pending.add(merged_into)
    result = {}
    for cid in customer_ids:
        current, seen = cid, set()
        while current in state and state[current][0] is not None and current not in seen:
            seen.add(current)
            current = state[current][0]
        erased = state.get(current, (None, True))[1]
        result[cid] = -1 if erased else current
    return result


def _fill_blanks(blanks: dict[int, tuple[str, str, str, str]], hashes: HashCache, encrypt) -> None:
    """Fill a matched customer's empty name, province, city and phone (never overwrite)."""
    table = Customer._meta.db_table
    rows = []
    for cid, (name, province, city, phone) in blanks.items():
        if not (name or province or city or phone):
            continue
        rows.append(
            (
                name,
                province,
                city,
                encrypt(phone) if phone else "",
                hashes.of(PHONE, phone) if phone else "",
                phone[-4:],
                cid,
            )
        )
    if not rows:
        return

    # every CASE reads the row as it was before this UPDATE (both databases)
    def assignments(values: list[str], c: str) -> str:
        name, province, city, phone, digest, last4 = values
        new_phone = f"{c}phone_hash = '' AND {digest} <> ''"
        return (
            f"name = CASE WHEN {c}name = '' THEN {name} ELSE {c}name END, "
            f"province = CASE WHEN {c}province = '' THEN {province} ELSE {c}province END, "
            f"city = CASE WHEN {c}city = '' THEN {city} ELSE {c}city END, "
            f"phone = CASE WHEN {new_phone} THEN {phone} ELSE {c}phone END, "
            f"phone_last4 = CASE WHEN {new_phone} THEN {last4} ELSE {c}phone_last4 END, "
            f"phone_hash = CASE WHEN {new_phone} THEN {digest} ELSE {c}phone_hash END"
        )

    if bulksql.is_postgres():
        cols = ["t.name", "t.province", "t.city", "t.phone", "t.digest", "t.last4"]
        bulksql.execute_unnest(
            f"UPDATE {table} AS c SET {assignments(cols, 'c.')} "
            "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::bigint[]) AS t(name, province, city, phone, digest, last4, cid) WHERE c.id = t.cid",
            bulksql.transpose(rows, 7),
            (),
        )
    else:
        marks = ["?1", "?2", "?3", "?4", "?5", "?6"]
        bulksql.execute_many(
            f"UPDATE {table} SET {assignments(marks, '')} WHERE id = ?7",
            rows,
        )


def _suggest_merges(pairs: dict[tuple[int, int], str], now: datetime) -> int:
    """Open a suggestion per pair unless the pair was ever suggested (a dismissed pair is never
    asked again). Few rows: the ORM is fine here."""
    wanted = sorted(pairs)
    existing = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        firsts = {a for a, _b in wanted[start : start + LOOKUP_CHUNK]}
        existing.update(
            MergeSuggestion.objects.filter(customer_a_id__in=firsts).values_list(
                "customer_a_id", "customer_b_id"
            )
        )
    new = [
        MergeSuggestion(
            customer_a_id=a, customer_b_id=b, reason=pairs[(a, b)][:200], created_at=now
        )
        for a, b in wanted
        if (a, b) not in existing
    ]
    MergeSuggestion.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
