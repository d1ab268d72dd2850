"""Rule-set tags: a small JSON language compiled to one SQL filter over all customers.

    {"all": [{"field": "paid_orders", "op": "gte", "value": 2},
             {"field": "days_since_last_order", "op": "lte", "value": 90}]}

`all` / `any` combine conditions (and may nest). Purchase figures (paid orders, net paid amount,
days since the last order) become one GROUP BY over orders used as an IN / NOT IN set, so a rule is
evaluated for a million customers in a few statements, never customer by customer.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.core.errors import ValidationFailed

from .models import Consent, ConsentChannel, CustomerTag, Source

COMPARE = ("eq", "gte", "gt", "lte", "lt")
FIELDS = {
    # name: (label, ops, value type)
    "source": (gettext_lazy("first source"), ("eq", "in", "not_in"), "source"),
    "city": (gettext_lazy("city"), ("eq", "in", "not_in"), "text"),
    "province": (gettext_lazy("province"), ("eq", "in", "not_in"), "text"),
    "gender": (gettext_lazy("gender"), ("eq",), "gender"),
    "days_since_first_seen": (gettext_lazy("days since first seen"), COMPARE, "int"),
    "paid_orders": (gettext_lazy("paid orders"), COMPARE, "int"),
    "paid_total_fen": (gettext_lazy("net paid (fen)"), COMPARE, "int"),
    "days_since_last_order": (gettext_lazy("days since the last paid order"), COMPARE, "int"),
    "in_pool": (gettext_lazy("reachable in the pool"), ("eq",), "bool"),
    "has_consent": (gettext_lazy("consented on channel"), ("eq",), "channel"),
    "has_owner": (gettext_lazy("has an owner"), ("eq",), "bool"),
    "has_tag": (gettext_lazy("has tag"), ("eq",), "tag"),
}
OP_LABELS = {
    "eq": "=",
    "gte": "≥",
    "gt": ">",
    "lte": "≤",
    "lt": "<",
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
}
MAX_DEPTH = 4


def _fail(message: str) -> None:
    raise ValidationFailed(
        _("The rule is invalid: %(why)s") % {"why": message}, fields={"rule": message}
    )


def validate_rule(rule: object, depth: int = 0) -> None:
    """Raise ValidationFailed (field `rule`) unless `rule` is a well-formed rule."""
    if depth > MAX_DEPTH:
        _fail(_("nested too deeply"))
    if not isinstance(rule, dict):
        _fail(_("a rule is an object"))
    if "all" in rule or "any" in rule:
        parts = rule.get("all", rule.get("any"))
        if set(rule) - {"all", "any"} or len(rule) != 1:
            _fail(_("use either all or any"))
        if not isinstance(parts, list) or not parts:
            _fail(_("all/any needs a non-empty list"))
        for part in parts:
            validate_rule(part, depth + 1)
        return
    name, op, value = rule.get("field"), rule.get("op"), rule.get("value")
    if name not in FIELDS:
        _fail(_("unknown field %(name)s") % {"name": name})
    _label, ops, kind = FIELDS[name]
    if op not in ops:
        _fail(_("%(field)s does not take %(op)s") % {"field": name, "op": op})
    values = value if op in ("in", "not_in") else [value]
    if not isinstance(values, list) or not values:
        _fail(_("%(op)s needs a non-empty list") % {"op": op})
    for v in values:
        if kind == "int" and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            _fail(_("%(field)s needs a whole number ≥ 0") % {"field": name})
        if kind == "bool" and not isinstance(v, bool):
            _fail(_("%(field)s needs true or false") % {"field": name})
        if kind == "source" and v not in Source.values:
            _fail(_("unknown source %(v)s") % {"v": v})
        if kind == "channel" and v not in ConsentChannel.values:
            _fail(_("unknown channel %(v)s") % {"v": v})
        if kind == "gender" and v not in ("f", "m"):
            _fail(_("gender is f or m"))
        if kind == "text" and (not isinstance(v, str) or not v.strip()):
            _fail(_("%(field)s needs text") % {"field": name})
        if kind == "tag" and (not isinstance(v, int) or isinstance(v, bool)):
            _fail(_("has_tag needs a tag id"))


def _paid_orders():
    from siyu.orders.models import Order, OrderStatus

    return Order.objects.filter(paid_at__isnull=False).exclude(
        status__in=[OrderStatus.CANCELLED, OrderStatus.REFUNDED]
    )


def _having(aggregate, op: str, value):
    """Customer ids whose aggregate over paid orders compares `op` to `value`."""
    lookup = {"eq": "exact", "gte": "gte", "gt": "gt", "lte": "lte", "lt": "lt"}[op]
    return (
        _paid_orders()
        .order_by()
        .values("customer_id")
        .annotate(x=aggregate)
        .filter(**{f"x__{lookup}": value})
        .values("customer_id")
    )


def _aggregate_filter(aggregate, op: str, value: int) -> Q:
    # customers without paid orders have an aggregate of 0: "fewer than 2" must include them, so
    # comparisons that hold for 0 are written as NOT IN the complement
    holds_for_zero = {
        "eq": value == 0,
        "gte": value <= 0,
        "gt": False,
        "lte": True,
        "lt": value > 0,
    }
    if not holds_for_zero[op]:
        return Q(pk__in=_having(aggregate, op, value))
    opposite = {"eq": "gt", "gte": "lt", "lte": "gt", "lt": "gte"}[op]
    if op == "eq":  # value == 0: none at all
        return ~Q(pk__in=_having(aggregate, "gt", 0))
    return ~Q(pk__in=_having(aggregate, opposite, value))


def _days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def _condition(name: str, op: str, value) -> Q:
    if name in ("source", "city", "province", "gender"):
        if op == "eq":
            return Q(**{name: value})
        q = Q(**{f"{name}__in": value})
        return q if op == "in" else ~q
    if name == "days_since_first_seen":
        # more days since = seen earlier
        flip = {"eq": None, "gte": "lte", "gt": "lt", "lte": "gte", "lt": "gt"}[op]
        if flip is None:
            return Q(first_seen_at__lte=_days_ago(value), first_seen_at__gt=_days_ago(value + 1))
        return Q(**{f"first_seen_at__{flip}": _days_ago(value)})
    if name == "paid_orders":
        return _aggregate_filter(Count("pk"), op, value)
    if name == "paid_total_fen":
        from django.db.models import F

        net = Coalesce(Sum(F("paid_fen") - F("refunded_fen")), 0)
        return _aggregate_filter(net, op, value)
    if name == "days_since_last_order":
        flip = {"eq": None, "gte": "lte", "gt": "lt", "lte": "gte", "lt": "gt"}[op]
        if flip is None:
            return Q(pk__in=_having(Max("paid_at"), "lte", _days_ago(value))) & Q(
                pk__in=_having(Max("paid_at"), "gt", _days_ago(value + 1))
            )
        return Q(pk__in=_having(Max("paid_at"), flip, _days_ago(value)))
    if name == "in_pool":
        return Q(in_pool=value)
    if name == "has_consent":
        return Q(
            opted_out_at__isnull=True,
            pk__in=Consent.objects.filter(channel=value, granted=True).values("customer_id"),
        )
    if name == "has_owner":
        return ~Q(owner_kind="") if value else Q(owner_kind="")
    if name == "has_tag":
        return Q(pk__in=CustomerTag.objects.filter(tag_id=value).values("customer_id"))
    raise AssertionError(name)  # validate_rule lets nothing else through


def rule_filter(rule: dict) -> Q:
    """The Q selecting the customers a (valid) rule matches."""
    validate_rule(rule)
    return _compile(rule)


def _compile(rule: dict) -> Q:
    if "all" in rule:
        q = Q()
        for part in rule["all"]:
            q &= _compile(part)
        return q
    if "any" in rule:
        q = Q(pk__in=[])
        for part in rule["any"]:
            q |= _compile(part)
        return q
    return _condition(rule["field"], rule["op"], rule["value"])


def describe_rule(rule: dict | None) -> str:
    """The rule in words for the console (`paid orders ≥ 2 and days since the last paid order ≤ 90`)."""
    if not rule:
        return ""
    if "all" in rule or "any" in rule:
        joiner = _(" and ") if "all" in rule else _(" or ")
        parts = [describe_rule(p) for p in rule.get("all", rule.get("any"))]
        text = joiner.join(parts)
        return f"({text})" if len(parts) > 1 else text
    label = FIELDS.get(rule.get("field"), (rule.get("field"),))[0]
    value = rule.get("value")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, bool):
        value = _("yes") if value else _("no")
    return f"{label} {OP_LABELS.get(rule.get('op'), rule.get('op'))} {value}"
