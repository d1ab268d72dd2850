"""The segment rule language (人群圈选): a JSON tree of AND / OR / NOT groups over conditions.

    {"op": "and", "children": [
        {"field": "rfm_group", "op": "in", "value": ["at_risk", "cant_lose"]},
        {"field": "spent", "op": "gte", "value": 50000, "within_days": 365},
        {"op": "not", "children": [{"field": "contactable", "op": "in", "value": ["wecom"]}]}
    ]}

``FIELDS`` is the typed schema: every field's kind, its operators, its value shape and where its
data comes from. ``parse_rule`` checks a JSON value against it and returns typed nodes, or raises
``InvalidRule`` naming the path of every bad node (``rule.children[2].value``). ``compile_rule``
turns typed nodes into one parameterised SQL predicate over the segment index (``index.py``):
user values only ever travel as bound parameters. The language is documented in docs/segments.md.

No database access here: this module is pure, so the console builder, the API and the command
line all validate and compile the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.core.errors import ValidationFailed

# --- limits -----------------------------------------------------------------------------------------

MAX_DEPTH = 6
MAX_NODES = 200
MAX_LIST = 1000
MAX_TEXT = 100
MAX_DAYS = 3650
MAX_MONEY_FEN = 10**12

# --- operators --------------------------------------------------------------------------------------

GROUP_OPS = {
    "and": gettext_lazy("all of"),
    "or": gettext_lazy("any of"),
    "not": gettext_lazy("none of"),
}
LIST_OPS = ("in", "not_in")
TAG_OPS = ("any", "all", "none")
NUMBER_OPS = ("gte", "gt", "lte", "lt", "eq", "ne", "between")
DATE_OPS = (
    "within_last_days",
    "more_than_days_ago",
    "within_next_days",
    "on_or_after",
    "before",
    "between",
    "is_set",
    "is_empty",
)
BOOL_OPS = ("is",)
OP_LABELS = {
    "in": gettext_lazy("is any of"),
    "not_in": gettext_lazy("is none of"),
    "any": gettext_lazy("has any of"),
    "all": gettext_lazy("has all of"),
    "none": gettext_lazy("has none of"),
    "gte": "≥",
    "gt": ">",
    "lte": "≤",
    "lt": "<",
    "eq": "=",
    "ne": "≠",
    "between": gettext_lazy("between"),
    "within_last_days": gettext_lazy("in the last N days"),
    "more_than_days_ago": gettext_lazy("more than N days ago"),
    "within_next_days": gettext_lazy("in the next N days"),
    "on_or_after": gettext_lazy("on or after"),
    "before": gettext_lazy("before"),
    "is_set": gettext_lazy("is known"),
    "is_empty": gettext_lazy("is empty"),
    "is": gettext_lazy("is"),
}
# behaviour ops: "in" = bought any of them in the window, "not_in" = bought none of them
BOUGHT_OP_LABELS = {"in": gettext_lazy("bought any of"), "not_in": gettext_lazy("bought none of")}
SQL_COMPARE = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "=", "ne": "<>"}
# windows the index precomputes per customer as of its build day (orders_90d, spent_365d...)
PRECOMPUTED_WINDOWS = (30, 90, 180, 365)


def platform_bits_map() -> dict[str, int]:
    """Bit of each platform in the index's per-customer ``platform_mask``."""
    from siyu.orders.models import Platform

    return {code: i for i, code in enumerate(Platform.values)}


def channel_bits_map() -> dict[str, int]:
    """Bit of each order channel in the index's per-customer ``channel_mask``."""
    from siyu.orders.models import Channel

    return {code: i for i, code in enumerate(Channel.values)}


class NotNull(str):
    """SQL that is never NULL (a membership test on non-null ids): no coalesce needed, so a
    top-level IN stays a semi-join."""


# --- the catalogue ----------------------------------------------------------------------------------


def _choices(module: str, name: str) -> Callable[[], list[tuple[str, str]]]:
    """Choices of a TextChoices class, imported late (models need the app registry)."""

    def load() -> list[tuple[str, str]]:
        import importlib

        return list(getattr(importlib.import_module(module), name).choices)

    return load


def _with(extra: list[tuple[str, Promise]], loader) -> Callable[[], list[tuple[str, str]]]:
    return lambda: [*loader(), *extra]


@dataclass(frozen=True)
class FieldSpec:
    """One field of the rule language.

    ``kind`` decides the value shape: ``choice`` (a list of known codes), ``text`` (a list of free
    texts), ``ids`` (a list of record ids: stores, clerks, categories), ``product`` (a list of
    product keys: SKU codes or titles), ``tag`` (tag ids with any/all/none), ``number``, ``money``
    (integer fen), ``date``, ``bool``. ``source`` says where it is evaluated: a column of the
    per-customer facts table, or a behaviour subquery over purchases or order lines.
    """

    name: str
    label: Promise
    section: str
    kind: str
    ops: tuple[str, ...]
    column: str = ""
    help: Promise | str = ""
    choices: Callable[[], list[tuple[str, Any]]] | None = None
    window: bool = False  # accepts within_days / since / until
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = True
    categories: bool = False  # accepts an optional list of category ids (replenishment)

    def op_label(self, op: str) -> str:
        if self.kind in ("product", "ids_bought") or self.name.startswith("bought_"):
            return str(BOUGHT_OP_LABELS.get(op, OP_LABELS.get(op, op)))
        return str(OP_LABELS.get(op, op))


SECTIONS = {
    "profile": gettext_lazy("Profile"),
    "owner": gettext_lazy("Source and owner"),
    "consent": gettext_lazy("Reach and consent"),
    "scores": gettext_lazy("Scores"),
    "behaviour": gettext_lazy("Purchase behaviour"),
}

_SOURCE = _choices("siyu.customers.models", "Source")
_CHANNEL = _choices("siyu.customers.models", "ConsentChannel")
_RFM = _choices("siyu.analytics.models", "RfmGroup")
_LIFECYCLE = _choices("siyu.analytics.models", "Lifecycle")
_ORDER_CHANNEL = _choices("siyu.orders.models", "Channel")
_PLATFORM = _choices("siyu.orders.models", "Platform")
_OWNER_KIND = _with(
    [("none", gettext_lazy("No owner"))], _choices("siyu.customers.models", "OwnerKind")
)


def _gender() -> list[tuple[str, str]]:
    return [("f", _("Female")), ("m", _("Male")), ("unknown", _("Unknown"))]


def _months() -> list[tuple[int, str]]:
    return [(m, _("Month %(m)s") % {"m": m}) for m in range(1, 13)]


_FIELD_LIST = [
    # profile
    FieldSpec("city", gettext_lazy("City"), "profile", "text", LIST_OPS, "city",
              gettext_lazy("As on the customer record, e.g. 上海")),
    FieldSpec("province", gettext_lazy("Province"), "profile", "text", LIST_OPS, "province"),
    FieldSpec("gender", gettext_lazy("Gender"), "profile", "choice", LIST_OPS, "gender", choices=_gender),
    FieldSpec("age", gettext_lazy("Age"), "profile", "number", NUMBER_OPS, "birthday",
              gettext_lazy("Years, from the birthday; customers without one never match"),
              minimum=0, maximum=130),
    FieldSpec("birthday_month", gettext_lazy("Birthday month"), "profile", "choice", LIST_OPS,
              "birth_month", choices=_months),
    FieldSpec("first_seen", gettext_lazy("First seen"), "profile", "date", DATE_OPS, "first_seen_on"),
    # source and owner
    FieldSpec("source", gettext_lazy("First source"), "owner", "choice", LIST_OPS, "source",
              gettext_lazy("Where the customer first came from (how they joined)"), choices=_SOURCE),
    FieldSpec("referred", gettext_lazy("Referred by a customer"), "owner", "bool", BOOL_OPS, "referred"),
    FieldSpec("owner_kind", gettext_lazy("Served by"), "owner", "choice", LIST_OPS, "owner_kind",
              choices=_OWNER_KIND),
    FieldSpec("owner", gettext_lazy("Owning clerk"), "owner", "ids", LIST_OPS, "owner_user_id"),
    FieldSpec("store", gettext_lazy("Home store"), "owner", "ids", LIST_OPS, "store_id"),
    FieldSpec("tag", gettext_lazy("Tags"), "owner", "tag", TAG_OPS),
    # reach and consent
    FieldSpec("contactable", gettext_lazy("Contactable on"), "consent", "choice", LIST_OPS,
              help=gettext_lazy("Consent granted on the channel and not opted out of marketing"),
              choices=_CHANNEL),
    FieldSpec("in_pool", gettext_lazy("Reachable in the pool"), "consent", "bool", BOOL_OPS, "in_pool",
              gettext_lazy("A WeCom contact or consented on some channel")),
    FieldSpec("opted_out", gettext_lazy("Opted out of all marketing"), "consent", "bool", BOOL_OPS,
              "opted_out"),
    # scores (the latest nightly scoring run)
    FieldSpec("rfm_group", gettext_lazy("RFM group"), "scores", "choice", LIST_OPS, "rfm_group",
              choices=_RFM),
    FieldSpec("lifecycle", gettext_lazy("Lifecycle stage"), "scores", "choice", LIST_OPS, "lifecycle",
              choices=_LIFECYCLE),
    FieldSpec("r_score", gettext_lazy("Recency score (1–5)"), "scores", "number", NUMBER_OPS,
              "r_score", minimum=1, maximum=5),
    FieldSpec("f_score", gettext_lazy("Frequency score (1–5)"), "scores", "number", NUMBER_OPS,
              "f_score", minimum=1, maximum=5),
    FieldSpec("m_score", gettext_lazy("Monetary score (1–5)"), "scores", "number", NUMBER_OPS,
              "m_score", minimum=1, maximum=5),
    FieldSpec("value_score", gettext_lazy("User value score (0–100)"), "scores", "number",
              NUMBER_OPS, "value_score", gettext_lazy("Percentile of purchase frequency × margin × referral index"),
              minimum=0, maximum=100),
    FieldSpec("p_alive", gettext_lazy("Chance still active (P(alive))"), "scores", "number",
              NUMBER_OPS, "p_alive", gettext_lazy("0 to 1; churn risk is 1 − P(alive)"),
              minimum=0, maximum=1, integer=False),
    FieldSpec("clv_90d", gettext_lazy("Expected value, next 90 days"), "scores", "money",
              NUMBER_OPS, "clv_90d_fen", minimum=0),
    FieldSpec("clv_365d", gettext_lazy("Expected value, next year"), "scores", "money",
              NUMBER_OPS, "clv_365d_fen", minimum=0),
    FieldSpec("next_purchase", gettext_lazy("Expected next purchase"), "scores", "date", DATE_OPS,
              "next_purchase_on", gettext_lazy("Last purchase plus the usual repurchase cycle")),
    FieldSpec("replenishment_due", gettext_lazy("Replenishment due"), "scores", "bool", BOOL_OPS,
              "replenishment_due",
              gettext_lazy("Near the usual repurchase day; optionally only for some categories"),
              categories=True),
    # behaviour (purchases in the snapshot: paid, not cancelled or refunded)
    FieldSpec("orders", gettext_lazy("Number of orders"), "behaviour", "number", NUMBER_OPS,
              "orders", gettext_lazy("Paid orders kept (not cancelled or fully refunded)"),
              window=True, minimum=0),
    FieldSpec("spent", gettext_lazy("Amount spent"), "behaviour", "money", NUMBER_OPS,
              "net_spend_fen", gettext_lazy("Paid minus refunded"), window=True, minimum=0),
    FieldSpec("first_purchase", gettext_lazy("First purchase"), "behaviour", "date", DATE_OPS,
              "first_purchase_on"),
    FieldSpec("last_purchase", gettext_lazy("Last purchase"), "behaviour", "date", DATE_OPS,
              "last_purchase_on", gettext_lazy("“More than N days ago” finds who has not bought since")),
    FieldSpec("bought_product", gettext_lazy("Bought product"), "behaviour", "product", LIST_OPS,
              help=gettext_lazy("SKU codes (or titles for lines without one)"), window=True),
    FieldSpec("bought_category", gettext_lazy("Bought category"), "behaviour", "ids", LIST_OPS,
              window=True),
    FieldSpec("bought_channel", gettext_lazy("Bought through channel"), "behaviour", "choice",
              LIST_OPS, choices=_ORDER_CHANNEL, window=True),
    FieldSpec("bought_platform", gettext_lazy("Bought on platform"), "behaviour", "choice",
              LIST_OPS, choices=_PLATFORM, window=True),
]  # fmt: skip
FIELDS: dict[str, FieldSpec] = {f.name: f for f in _FIELD_LIST}
BEHAVIOUR_SUBQUERY = {"bought_product", "bought_category", "bought_channel", "bought_platform"}


# --- typed nodes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A purchase window: the last N days (today included), or dates (local days, inclusive)."""

    within_days: int | None = None
    since: date | None = None
    until: date | None = None

    def as_json(self) -> dict:
        out: dict[str, Any] = {}
        if self.within_days is not None:
            out["within_days"] = self.within_days
        if self.since:
            out["since"] = self.since.isoformat()
        if self.until:
            out["until"] = self.until.isoformat()
        return out


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any = None
    window: Window | None = None
    categories: tuple[int, ...] = ()

    @property
    def spec(self) -> FieldSpec:
        return FIELDS[self.field]

    def as_json(self) -> dict:
        out: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.value is not None:
            value = self.value
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [v.isoformat() if isinstance(v, date) else v for v in value]
            out["value"] = value
        if self.window:
            out.update(self.window.as_json())
        if self.categories:
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True)
class Group:
    op: str
    children: tuple[Node, ...] = ()

    def as_json(self) -> dict:
        return {"op": self.op, "children": [c.as_json() for c in self.children]}


Node = Group | Condition


def walk(node: Node) -> Iterable[Condition]:
    if isinstance(node, Condition):
        yield node
        return
    for child in node.children:
        yield from walk(child)


# --- validation -------------------------------------------------------------------------------------


class InvalidRule(ValidationFailed):
    """The segment rule is invalid."""

    code = "invalid_rule"


@dataclass
class _Checker:
    errors: dict[str, str] = field(default_factory=dict)
    nodes: int = 0

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(
                path, _("A rule may have at most %(n)s conditions and groups.") % {"n": MAX_NODES}
            )
            return None
        if not isinstance(raw, dict):
            self.fail(path, _("Expected an object: a group or a condition."))
            return None
        if "field" in raw:
            return self.condition(raw, path)
        if "children" in raw or raw.get("op") in GROUP_OPS:
            return self.group(raw, path, depth)
        self.fail(path, _("Give either “field” (a condition) or “children” (a group)."))
        return None

    def group(self, raw: dict, path: str, depth: int) -> Group | None:
        if depth >= MAX_DEPTH:
            self.fail(path, _("Groups may be nested at most %(n)s deep.") % {"n": MAX_DEPTH})
            return None
        extra = set(raw) - {"op", "children"}
        if extra:
            self.fail(f"{path}.{sorted(extra)[0]}", _("Unknown key in a group."))
        op = raw.get("op")
        if op not in GROUP_OPS:
            self.fail(f"{path}.op", _("A group's op is and, or or not."))
        children = raw.get("children")
        if not isinstance(children, list) or not children:
            self.fail(f"{path}.children", _("A group needs a non-empty list of children."))
            return None
        parsed = [
            self.node(child, f"{path}.children[{i}]", depth + 1) for i, child in enumerate(children)
        ]
        if op not in GROUP_OPS or any(p is None for p in parsed):
            return None
        return Group(op=op, children=tuple(parsed))

    def condition(self, raw: dict, path: str) -> Condition | None:
        name = raw.get("field")
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            self.fail(f"{path}.field", _("Unknown field “%(name)s”.") % {"name": name})
            return None
        allowed = {"field", "op", "value"}
        if spec.window:
            allowed |= {"within_days", "since", "until"}
        if spec.categories:
            allowed.add("categories")
        for key in sorted(set(raw) - allowed):
            self.fail(
                f"{path}.{key}",
                _("%(field)s does not take “%(key)s”.") % {"field": name, "key": key},
            )
        op = raw.get("op")
        if op not in spec.ops:
            self.fail(
                f"{path}.op",
                _("%(field)s takes one of: %(ops)s.") % {"field": name, "ops": ", ".join(spec.ops)},
            )
            return None
        before = len(self.errors)
        value = self.value(spec, op, raw.get("value"), f"{path}.value", "value" in raw)
        window = self.window(raw, path) if spec.window else None
        categories = ()
        if spec.categories and raw.get("categories") not in (None, []):
            categories = tuple(self.id_list(raw["categories"], f"{path}.categories"))
        if len(self.errors) > before:
            return None
        return Condition(field=name, op=op, value=value, window=window, categories=categories)

    # values ------------------------------------------------------------------------------------

    def value(self, spec: FieldSpec, op: str, raw: Any, path: str, present: bool) -> Any:
        kind = spec.kind
        if op in ("is_set", "is_empty"):
            if present and raw is not None:
                self.fail(path, _("This operator takes no value."))
            return None
        if not present or raw is None:
            self.fail(path, _("A value is required."))
            return None
        if kind == "bool":
            if not isinstance(raw, bool):
                self.fail(path, _("Use true or false."))
            return raw
        if kind in ("choice", "text", "ids", "product", "tag"):
            return self.list_value(spec, raw, path)
        if kind in ("number", "money"):
            if op == "between":
                pair = self.pair(raw, path)
                if pair is None:
                    return None
                lo, hi = (self.number(spec, v, f"{path}[{i}]") for i, v in enumerate(pair))
                if lo is not None and hi is not None and lo > hi:
                    self.fail(path, _("The lower bound is above the upper bound."))
                return (lo, hi)
            return self.number(spec, raw, path)
        if kind == "date":
            if op in ("within_last_days", "more_than_days_ago", "within_next_days"):
                return self.days(raw, path, minimum=0 if op != "within_last_days" else 1)
            if op == "between":
                pair = self.pair(raw, path)
                if pair is None:
                    return None
                lo, hi = (self.date(v, f"{path}[{i}]") for i, v in enumerate(pair))
                if lo and hi and lo > hi:
                    self.fail(path, _("The start date is after the end date."))
                return (lo, hi)
            return self.date(raw, path)
        raise AssertionError(f"unhandled kind {kind}")

    def list_value(self, spec: FieldSpec, raw: Any, path: str) -> tuple | None:
        if not isinstance(raw, list) or not raw:
            self.fail(path, _("Expected a non-empty list."))
            return None
        if len(raw) > MAX_LIST:
            self.fail(path, _("At most %(n)s values.") % {"n": MAX_LIST})
            return None
        if spec.kind in ("ids", "tag"):
            return tuple(self.id_list(raw, path))
        if spec.kind == "choice":
            allowed = {code for code, _label in spec.choices()}
            out = []
            for i, v in enumerate(raw):
                if v not in allowed or isinstance(v, bool):
                    self.fail(
                        f"{path}[{i}]",
                        _("“%(value)s” is not one of: %(allowed)s.")
                        % {
                            "value": v,
                            "allowed": ", ".join(str(a) for a in sorted(allowed, key=str)),
                        },
                    )
                out.append(v)
            return tuple(dict.fromkeys(out))
        out = []
        for i, v in enumerate(raw):
            if not isinstance(v, str) or not v.strip():
                self.fail(f"{path}[{i}]", _("Expected a non-empty text."))
            elif len(v) > (255 if spec.kind == "product" else MAX_TEXT):
                self.fail(f"{path}[{i}]", _("Too long."))
            else:
                out.append(v.strip())
        return tuple(dict.fromkeys(out))

    def id_list(self, raw: Any, path: str) -> list[int]:
        if not isinstance(raw, list) or not raw:
            self.fail(path, _("Expected a non-empty list of ids."))
            return []
        out = []
        for i, v in enumerate(raw):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                self.fail(f"{path}[{i}]", _("Expected a positive whole number (an id)."))
            else:
                out.append(v)
        return list(dict.fromkeys(out))

    def pair(self, raw: Any, path: str) -> list | None:
        if not isinstance(raw, list) or len(raw) != 2:
            self.fail(path, _("“between” takes a list of two values: [low, high]."))
            return None
        return raw

    def number(self, spec: FieldSpec, raw: Any, path: str) -> float | int | None:
        integer = spec.integer or spec.kind == "money"
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.fail(path, _("Expected a number."))
            return None
        if integer and raw != int(raw):
            self.fail(
                path,
                _("Expected a whole number of fen (1 yuan = 100).")
                if spec.kind == "money"
                else _("Expected a whole number."),
            )
            return None
        lo = spec.minimum
        hi = (
            spec.maximum
            if spec.maximum is not None
            else (MAX_MONEY_FEN if spec.kind == "money" else None)
        )
        if (lo is not None and raw < lo) or (hi is not None and raw > hi):
            self.fail(
                path,
                _("Out of range (%(lo)s to %(hi)s).")
                % {"lo": lo, "hi": hi if hi is not None else "∞"},
            )
            return None
        return int(raw) if integer else float(raw)

    def days(self, raw: Any, path: str, *, minimum: int) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int) or not minimum <= raw <= MAX_DAYS:
            self.fail(
                path,
                _("Expected a number of days from %(lo)s to %(hi)s.")
                % {"lo": minimum, "hi": MAX_DAYS},
            )
            return None
        return raw

    def date(self, raw: Any, path: str) -> date | None:
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        self.fail(path, _("Use a date like 2026-01-31."))
        return None

    def window(self, raw: dict, path: str) -> Window | None:
        within, since, until = raw.get("within_days"), raw.get("since"), raw.get("until")
        if within is None and since is None and until is None:
            return None
        if within is not None and (since is not None or until is not None):
            self.fail(f"{path}.within_days", _("Give either within_days or since/until, not both."))
            return None
        if within is not None:
            days = self.days(within, f"{path}.within_days", minimum=1)
            return Window(within_days=days) if days else None
        start = self.date(since, f"{path}.since") if since is not None else None
        end = self.date(until, f"{path}.until") if until is not None else None
        if start and end and start > end:
            self.fail(f"{path}.until", _("The end date is before the start date."))
        return Window(since=start, until=end)


def parse_rule(raw: Any, *, path: str = "rule") -> Node:
    """Check ``raw`` (decoded JSON) against the rule language; typed nodes or ``InvalidRule``."""
    checker = _Checker()
    node = checker.node(raw, path, 0)
    if checker.errors or node is None:
        fields = checker.errors or {path: _("Invalid rule.")}
        first_path, first = next(iter(fields.items()))
        raise InvalidRule(
            _("The rule is invalid at %(path)s: %(why)s") % {"path": first_path, "why": first},
            fields=fields,
        )
    return node


def describe(node: Node, labels: dict[str, dict] | None = None) -> str:
    """A one-line, human-readable summary of a rule, for lists and exports."""
    labels = labels or {}
    if isinstance(node, Group):
        joiner = {"and": _(" and "), "or": _(" or ")}.get(node.op, _(", "))
        inner = joiner.join(describe(c, labels) for c in node.children)
        if node.op == "not":
            return _("not (%(inner)s)") % {"inner": inner}
        return f"({inner})" if len(node.children) > 1 else inner
    spec = node.spec
    names = labels.get(node.field) or (dict(spec.choices()) if spec.choices else {})
    value = node.value
    if isinstance(value, tuple) and spec.kind not in ("number", "money", "date"):
        shown = ", ".join(str(names.get(v, v)) for v in value[:5]) + ("…" if len(value) > 5 else "")
    elif isinstance(value, tuple):
        shown = " – ".join(str(v) for v in value)
    elif isinstance(value, bool):
        shown = _("yes") if value else _("no")
    elif spec.kind == "money" and value is not None:
        shown = f"¥{value / 100:,.2f}"
    else:
        shown = "" if value is None else str(value)
    text = f"{spec.label} {spec.op_label(node.op)} {shown}".strip()
    if node.window:
        w = node.window
        if w.within_days:
            text += _(" (last %(n)s days)") % {"n": w.within_days}
        elif w.since or w.until:
            text += f" ({w.since or '…'} – {w.until or '…'})"
    return text


# --- compilation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a rule is evaluated against: today's local date and the business time zone."""

    today: date
    tz: str = ""
    precomputed_on: date | None = None  # the index's build day (its precomputed windows)

    @classmethod
    def now(cls) -> Context:
        from django.utils import timezone

        return cls(today=timezone.localdate(), tz=str(settings.TIME_ZONE))

    def utc_midnight(self, day: date) -> datetime:
        """Local midnight of ``day`` as a naive UTC timestamp (the snapshot stores naive UTC)."""
        zone = ZoneInfo(self.tz or str(settings.TIME_ZONE))
        local = datetime.combine(day, time.min, tzinfo=zone)
        return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@dataclass
class Compiled:
    """A boolean SQL expression over the facts table ``f`` with its bound parameters."""

    sql: str
    params: list = field(default_factory=list)


class _Compiler:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.params: list = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def binds(self, values: Iterable[Any]) -> str:
        return ", ".join(self.bind(v) for v in values)

    def node(self, node: Node) -> str:
        if isinstance(node, Group):
            parts = [self.node(c) for c in node.children]
            if node.op == "and":
                return "(" + " AND ".join(parts) + ")"
            if node.op == "or":
                return "(" + " OR ".join(parts) + ")"
            return "(NOT (" + " OR ".join(parts) + "))"
        # every condition is TRUE or FALSE, never NULL, so NOT means what it says
        sql = self.condition(node)
        return sql if isinstance(sql, NotNull) else f"coalesce({sql}, false)"

    # conditions -----------------------------------------------------------------------------------

    def condition(self, c: Condition) -> str:
        spec = c.spec
        if c.field == "tag":
            return self.tag(c)
        if c.field == "contactable":
            flags = " OR ".join(f"f.consent_{ch}" for ch in c.value)
            inner = f"(NOT f.opted_out AND ({flags}))"
            return inner if c.op == "in" else f"(NOT {inner})"
        if c.field == "age":
            return self.age(c)
        if c.field == "replenishment_due":
            return self.replenishment(c)
        if c.field in ("bought_platform", "bought_channel") and c.window is None:
            # a bit per platform / channel the customer ever bought through
            bits = platform_bits_map() if c.field == "bought_platform" else channel_bits_map()
            mask = sum(1 << bits[v] for v in c.value)
            column = "f.platform_mask" if c.field == "bought_platform" else "f.channel_mask"
            test = "<>" if c.op == "in" else "="
            return NotNull(f"(({column} & {self.bind(mask)}) {test} 0)")
        if c.field in BEHAVIOUR_SUBQUERY:
            return self.bought(c)
        if c.field in ("orders", "spent") and c.window is not None:
            w = c.window
            if (
                w.within_days in PRECOMPUTED_WINDOWS
                and self.ctx.precomputed_on is not None
                and self.ctx.precomputed_on == self.ctx.today
            ):
                name = "orders" if c.field == "orders" else "spent"
                return NotNull(self.compare(f"f.{name}_{w.within_days}d", c.op, c.value))
            return self.windowed_aggregate(c)
        column = f"f.{spec.column}"
        if spec.kind == "bool":
            return column if c.value else f"(NOT {column})"
        if spec.kind in ("choice", "text", "ids"):
            values = list(c.value)
            if c.field in ("gender", "owner_kind"):
                empty = "unknown" if c.field == "gender" else "none"
                column = f"coalesce(nullif({column}, ''), '{empty}')"
            test = f"{column} IN ({self.binds(values)})"
            # "is none of" also matches customers where the field is empty
            return test if c.op == "in" else f"coalesce(NOT ({test}), true)"
        if spec.kind in ("number", "money"):
            return self.compare(column, c.op, c.value)
        if spec.kind == "date":
            return self.date(column, c.op, c.value)
        raise AssertionError(f"cannot compile {c.field}")

    def compare(self, column: str, op: str, value: Any) -> str:
        if op == "between":
            lo, hi = value
            return f"({column} BETWEEN {self.bind(lo)} AND {self.bind(hi)})"
        return f"({column} {SQL_COMPARE[op]} {self.bind(value)})"

    def date(self, column: str, op: str, value: Any) -> str:
        today = self.ctx.today
        if op == "is_set":
            return f"({column} IS NOT NULL)"
        if op == "is_empty":
            return f"({column} IS NULL)"
        if op == "within_last_days":  # today and the N - 1 days before it
            start = today - timedelta(days=value - 1)
            return f"({column} BETWEEN {self.bind(start)} AND {self.bind(today)})"
        if op == "more_than_days_ago":
            return f"({column} < {self.bind(today - timedelta(days=value))})"
        if op == "within_next_days":
            end = today + timedelta(days=value)
            return f"({column} BETWEEN {self.bind(today)} AND {self.bind(end)})"
        if op == "on_or_after":
            return f"({column} >= {self.bind(value)})"
        if op == "before":
            return f"({column} < {self.bind(value)})"
        if op == "between":
            lo, hi = value
            return f"({column} BETWEEN {self.bind(lo)} AND {self.bind(hi)})"
        raise AssertionError(op)

    def age(self, c: Condition) -> str:
        """Age in whole years, as birthday bounds: exact on leap days and birthdays."""
        today = self.ctx.today

        def born_by(years: int) -> date:  # the latest birthday of someone aged `years` today
            try:
                return today.replace(year=today.year - years)
            except ValueError:  # 29 February in a common year
                return today.replace(year=today.year - years, day=28)

        def born_after(years: int) -> date:  # the earliest birthday of someone aged `years`
            return born_by(years + 1) + timedelta(days=1)

        col = "f.birthday"
        op, v = c.op, c.value
        if op == "between":
            lo, hi = int(v[0]), int(v[1])
            return f"({col} BETWEEN {self.bind(born_after(hi))} AND {self.bind(born_by(lo))})"
        v = int(v)
        if op == "eq":
            return f"({col} BETWEEN {self.bind(born_after(v))} AND {self.bind(born_by(v))})"
        if op == "ne":
            return f"({col} NOT BETWEEN {self.bind(born_after(v))} AND {self.bind(born_by(v))})"
        if op == "gte":
            return f"({col} <= {self.bind(born_by(v))})"
        if op == "gt":
            return f"({col} <= {self.bind(born_by(v + 1))})"
        if op == "lte":
            return f"({col} >= {self.bind(born_after(v))})"
        if op == "lt":
            return f"({col} >= {self.bind(born_after(v - 1))})"
        raise AssertionError(op)

    def tag(self, c: Condition) -> str:
        ids = list(c.value)
        if c.op == "all" and len(ids) > 1:
            sub = (
                f"SELECT customer_id FROM customer_tags WHERE tag_id IN ({self.binds(ids)}) "
                f"GROUP BY customer_id HAVING count(DISTINCT tag_id) = {self.bind(len(ids))}"
            )
            return NotNull(f"(f.customer_id IN ({sub}))")
        sub = f"SELECT customer_id FROM customer_tags WHERE tag_id IN ({self.binds(ids)})"
        return NotNull(f"(f.customer_id {'NOT IN' if c.op == 'none' else 'IN'} ({sub}))")

    def replenishment(self, c: Condition) -> str:
        if not c.categories:
            return "f.replenishment_due" if c.value else "(NOT f.replenishment_due)"
        sub = (
            "SELECT customer_id FROM category_due WHERE replenishment_due "
            f"AND category_id IN ({self.binds(c.categories)})"
        )
        return NotNull(f"(f.customer_id {'IN' if c.value else 'NOT IN'} ({sub}))")

    def window_sql(self, window: Window | None) -> str:
        if window is None:
            return ""
        parts = []
        if window.within_days is not None:
            start = self.ctx.today - timedelta(days=window.within_days - 1)
            parts.append(f"paid_at >= {self.bind(self.ctx.utc_midnight(start))}")
        if window.since is not None:
            parts.append(f"paid_at >= {self.bind(self.ctx.utc_midnight(window.since))}")
        if window.until is not None:
            end = self.ctx.utc_midnight(window.until + timedelta(days=1))
            parts.append(f"paid_at < {self.bind(end)}")
        return " AND ".join(parts)

    def window_start(self, window: Window | None) -> date | None:
        """The first local day of a window that runs until today (None: all history)."""
        if window is None:
            return None
        if window.within_days is not None:
            return self.ctx.today - timedelta(days=window.within_days - 1)
        return window.since

    def bought(self, c: Condition) -> str:
        negate = "NOT IN" if c.op == "not_in" else "IN"
        if c.window is None or c.window.until is None:
            # who bought what, and the last day they did: one indexed lookup per key
            kind = c.field.removeprefix("bought_")
            keys = [str(v) for v in c.value]
            where = [f"kind = {self.bind(kind)}", f"key IN ({self.binds(keys)})"]
            start = self.window_start(c.window)
            if start is not None:
                where.append(f"last_day >= {self.bind(start)}")
            sub = f"SELECT customer_id FROM customer_bought WHERE {' AND '.join(where)}"
            return NotNull(f"(f.customer_id {negate} ({sub}))")
        table, column = {
            "bought_product": ("lines", "product"),
            "bought_category": ("lines", "category_id"),
            "bought_channel": ("purchases", "channel"),
            "bought_platform": ("purchases", "platform"),
        }[c.field]
        where = [f"{column} IN ({self.binds(c.value)})", self.window_sql(c.window)]
        sub = f"SELECT customer_id FROM {table} WHERE {' AND '.join(where)}"
        return NotNull(f"(f.customer_id {negate} ({sub}))")

    def windowed_aggregate(self, c: Condition) -> str:
        """Orders or money in a window. Customers without purchases there count as 0, so the
        test runs on the complement when 0 itself passes (``spent < 100`` includes non-buyers)."""
        zero_passes = _passes_at_zero(c.op, c.value)
        if c.window.until is None:
            # up to today: the customer's total minus what came before their first day in the
            # window (pdays keeps running totals; that day is the row whose previous day is
            # before the window), with no grouping by customer
            measure = (
                "(orders_total - orders_before)"
                if c.field == "orders"
                else "(fen_total - fen_before)"
            )
            start = self.window_start(c.window)
            first = self.bind(start)  # parameters are bound in the order they appear
            before = self.bind(start)
            test = self.compare(measure, c.op, c.value)
            sub = (
                f"SELECT customer_id FROM pdays WHERE day >= {first} "
                f"AND (prev_day IS NULL OR prev_day < {before}) "
                f"AND {'NOT ' if zero_passes else ''}{test}"
            )
            return NotNull(f"(f.customer_id {'NOT IN' if zero_passes else 'IN'} ({sub}))")
        measure = "count(*)" if c.field == "orders" else "sum(net_fen)"
        where = self.window_sql(c.window)
        test = self.compare(measure, c.op, c.value)
        having = f"NOT {test}" if zero_passes else test
        sub = (
            f"SELECT customer_id FROM purchases WHERE {where} GROUP BY customer_id HAVING {having}"
        )
        return NotNull(f"(f.customer_id {'NOT IN' if zero_passes else 'IN'} ({sub}))")


def _passes_at_zero(op: str, value: Any) -> bool:
    if op == "between":
        return value[0] <= 0 <= value[1]
    return {
        "gte": value <= 0,
        "gt": value < 0,
        "lte": value >= 0,
        "lt": value > 0,
        "eq": value == 0,
        "ne": value != 0,
    }[op]


def compile_rule(node: Node, ctx: Context | None = None) -> Compiled:
    """One SQL predicate over ``facts f`` (and subqueries on the index's other tables)."""
    compiler = _Compiler(ctx or Context.now())
    sql = compiler.node(node)
    return Compiled(sql=sql, params=compiler.params)


# --- the catalogue as data (API, builder, docs) -----------------------------------------------------


def catalogue() -> list[dict]:
    """Every field with its label, section, kind, operators and fixed choices."""
    out = []
    for spec in _FIELD_LIST:
        out.append(
            {
                "field": spec.name,
                "label": str(spec.label),
                "section": spec.section,
                "section_label": str(SECTIONS[spec.section]),
                "kind": spec.kind,
                "ops": [{"op": op, "label": spec.op_label(op)} for op in spec.ops],
                "choices": [
                    {"value": v, "label": str(label)}
                    for v, label in (spec.choices() if spec.choices else [])
                ],
                "window": spec.window,
                "categories": spec.categories,
                "minimum": spec.minimum,
                "maximum": spec.maximum,
                "help": str(spec.help),
            }
        )
    return out


def json_schema() -> dict:
    """A JSON Schema (draft 2020-12) of the rule language, generated from ``FIELDS``."""
    conditions = []
    for spec in _FIELD_LIST:
        props: dict[str, Any] = {
            "field": {"const": spec.name},
            "op": {"enum": list(spec.ops)},
        }
        if spec.kind == "bool":
            props["value"] = {"type": "boolean"}
        elif spec.kind in ("number", "money"):
            number = {"type": "integer" if spec.integer or spec.kind == "money" else "number"}
            props["value"] = {
                "oneOf": [number, {"type": "array", "items": number, "minItems": 2, "maxItems": 2}]
            }
        elif spec.kind == "date":
            props["value"] = {
                "oneOf": [
                    {"type": "string", "format": "date"},
                    {"type": "integer", "minimum": 0, "maximum": MAX_DAYS},
                    {
                        "type": "array",
                        "items": {"type": "string", "format": "date"},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    {"type": "null"},
                ]
            }
        else:
            if spec.kind in ("ids", "tag"):
                item: dict[str, Any] = {"type": "integer", "minimum": 1}
            elif spec.kind == "choice":
                item = {"enum": [v for v, _label in spec.choices()]}
            else:
                item = {"type": "string", "minLength": 1}
            props["value"] = {"type": "array", "items": item, "minItems": 1, "maxItems": MAX_LIST}
        if spec.window:
            props["within_days"] = {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}
            props["since"] = {"type": "string", "format": "date"}
            props["until"] = {"type": "string", "format": "date"}
        if spec.categories:
            props["categories"] = {"type": "array", "items": {"type": "integer", "minimum": 1}}
        conditions.append(
            {
                "type": "object",
                "title": str(spec.label),
                "properties": props,
                "required": ["field", "op"],
                "additionalProperties": False,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://siyu.dev/schemas/segment-rule.json",
        "title": "siyu segment rule",
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {"oneOf": [{"$ref": "#/$defs/group"}, {"$ref": "#/$defs/condition"}]},
            "group": {
                "type": "object",
                "properties": {
                    "op": {"enum": list(GROUP_OPS)},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "minItems": 1},
                },
                "required": ["op", "children"],
                "additionalProperties": False,
            },
            "condition": {"oneOf": conditions},
        },
    }
