"""The console's segment builder: a rule tree as form fields, and back.

Every node has a path: ``n`` is the root group, ``n.1`` its second child, ``n.1.0`` that child's
first child. A node's inputs are named ``<path>.<part>`` (``n.1.field``, ``n.1.value``...), so the
whole tree travels in one ordinary form post: htmx re-renders the tree after adding or removing a
node, and posts the same form to count the rule as it is edited. Reading the form is lenient (a
half-typed number stays text) so that ``rules.parse_rule`` reports the problem at the right node.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from siyu.core.money import BadAmount, yuan_to_fen

from .rules import DATE_OPS, FIELDS, GROUP_OPS, SECTIONS, FieldSpec

ROOT = "n"
DEFAULT_CONDITION = {"field": "lifecycle", "op": "in", "value": []}
DAY_OPS = ("within_last_days", "more_than_days_ago", "within_next_days")
_SPLIT = re.compile(r"[,，、;；\n]+")


def default_rule() -> dict:
    return {"op": "and", "children": [copy.deepcopy(DEFAULT_CONDITION)]}


def json_path(node_path: str) -> str:
    """``n.1.0`` -> ``rule.children[1].children[0]`` (the paths rules.parse_rule reports)."""
    parts = node_path.split(".")[1:]
    return "rule" + "".join(f".children[{p}]" for p in parts)


# --- form -> raw rule --------------------------------------------------------------------------------


def _number(text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def _money(text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    try:
        return yuan_to_fen(text)
    except BadAmount:
        return text


def _int(text: str) -> Any:
    try:
        return int(str(text).strip())
    except ValueError:
        return str(text)


def rule_from_form(data) -> dict:
    """The raw rule a builder form describes (a QueryDict, or any mapping with ``getlist``)."""
    kinds = {
        key[: -len(".kind")]: data.get(key)
        for key in data
        if key.endswith(".kind") and (key == f"{ROOT}.kind" or key.startswith(f"{ROOT}."))
    }
    if kinds.get(ROOT) != "group":
        return default_rule()

    def children_of(path: str) -> list[str]:
        depth = path.count(".") + 1
        found = [
            p for p in kinds if p.startswith(path + ".") and p.count(".") == depth and p != path
        ]
        return sorted(found, key=lambda p: int(p.rsplit(".", 1)[1]))

    def build(path: str) -> dict:
        if kinds[path] == "group":
            op = data.get(f"{path}.op") or "and"
            return {"op": op, "children": [build(c) for c in children_of(path)]}
        return _condition_from_form(data, path)

    return build(ROOT)


def _condition_from_form(data, path: str) -> dict:
    name = data.get(f"{path}.field") or ""
    op = data.get(f"{path}.op") or ""
    spec = FIELDS.get(name)
    if spec is None:
        return {"field": name, "op": op}
    if op not in spec.ops:  # the field was just changed: start from its first operator
        return _fresh(spec)
    out: dict[str, Any] = {"field": name, "op": op}
    get = lambda part: (data.get(f"{path}.{part}") or "").strip()  # noqa: E731
    values = [v for v in data.getlist(f"{path}.value") if str(v).strip() != ""]
    kind = spec.kind
    if kind == "bool":
        out["value"] = get("value") != "false"
    elif kind in ("ids", "tag"):
        out["value"] = [_int(v) for v in values]
    elif kind == "choice":
        out["value"] = [_int(v) if spec.name == "birthday_month" else v for v in values]
    elif kind in ("text", "product"):
        out["value"] = [p.strip() for v in values for p in _SPLIT.split(v) if p.strip()]
    elif kind in ("number", "money"):
        parse = _money if kind == "money" else _number
        if op == "between":
            out["value"] = [parse(get("value_lo")), parse(get("value_hi"))]
        else:
            out["value"] = parse(get("value"))
    elif kind == "date":
        if op in ("is_set", "is_empty"):
            pass
        elif op in DAY_OPS:
            out["value"] = _number(get("value"))
        elif op == "between":
            out["value"] = [get("value_lo") or None, get("value_hi") or None]
        else:
            out["value"] = get("value") or None
    if spec.window:
        mode = get("window")
        if mode == "days":
            out["within_days"] = _number(get("within_days"))
        elif mode == "dates":
            if get("since"):
                out["since"] = get("since")
            if get("until"):
                out["until"] = get("until")
    if spec.categories:
        cats = [_int(v) for v in data.getlist(f"{path}.categories") if str(v).strip()]
        if cats:
            out["categories"] = cats
    return out


def _fresh(spec: FieldSpec) -> dict:
    op = spec.ops[0]
    if spec.kind == "bool":
        return {"field": spec.name, "op": op, "value": True}
    if spec.kind == "date":
        return {"field": spec.name, "op": op, "value": None}
    if spec.kind in ("number", "money"):
        return {"field": spec.name, "op": op, "value": None}
    return {"field": spec.name, "op": op, "value": []}


# --- actions ------------------------------------------------------------------------------------------


def _locate(rule: dict, path: str) -> tuple[dict | None, list | None, int | None]:
    """(node, parent's children list, index in it) for a node path."""
    node, parent, index = rule, None, None
    for part in path.split(".")[1:]:
        children = node.get("children") if isinstance(node, dict) else None
        i = int(part)
        if not isinstance(children, list) or not 0 <= i < len(children):
            return None, None, None
        node, parent, index = children[i], children, i
    return node, parent, index


def apply_action(rule: dict, action: str) -> dict:
    """``add_condition:<group>``, ``add_group:<group>``, ``remove:<node>``; anything else keeps
    the rule as it is (a plain re-render after a field change)."""
    verb, _sep, path = (action or "").partition(":")
    if not path.startswith(ROOT):
        return rule
    rule = copy.deepcopy(rule)
    node, parent, index = _locate(rule, path)
    if node is None:
        return rule
    if verb in ("add_condition", "add_group") and isinstance(node.get("children"), list):
        new = copy.deepcopy(DEFAULT_CONDITION)
        if verb == "add_group":
            new = {"op": "or", "children": [new]}
        node["children"].append(new)
    elif verb == "remove":
        if parent is None:
            return default_rule()
        parent.pop(index)
    return rule


# --- raw rule + errors -> what the template draws ----------------------------------------------------


@dataclass
class Choice:
    value: Any
    label: str
    checked: bool = False


@dataclass
class NodeView:
    path: str
    is_group: bool
    op: str = "and"
    children: list[NodeView] = field(default_factory=list)
    field_name: str = ""
    spec: FieldSpec | None = None
    ops: list[tuple[str, str]] = field(default_factory=list)
    widget: str = ""
    value: str = ""
    value_lo: str = ""
    value_hi: str = ""
    bool_value: bool = True
    choices: list[Choice] = field(default_factory=list)
    window: str = "all"
    within_days: str = ""
    since: str = ""
    until: str = ""
    categories: list[Choice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    depth: int = 0
    datalist: str = ""

    @property
    def prefix(self) -> str:
        return self.path


def field_options() -> list[tuple[str, list[tuple[str, str]]]]:
    """Fields grouped by section, for the field picker."""
    out = []
    for key, label in SECTIONS.items():
        out.append(
            (str(label), [(f.name, str(f.label)) for f in FIELDS.values() if f.section == key])
        )
    return out


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _yuan(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 100:.2f}".rstrip("0").rstrip(".")
    return _text(value)


def node_view(
    raw: Any, errors: dict[str, str], lookups: dict[str, list[tuple[Any, str]]], path: str = ROOT
) -> NodeView:
    depth = path.count(".")
    mine = json_path(path)
    own_errors = [msg for p, msg in errors.items() if p == mine or _is_attr_error(p, mine)]
    if not isinstance(raw, dict) or "field" not in raw:
        raw = raw if isinstance(raw, dict) else {}
        children = raw.get("children") if isinstance(raw.get("children"), list) else []
        return NodeView(
            path=path,
            is_group=True,
            op=raw.get("op") if raw.get("op") in GROUP_OPS else "and",
            children=[
                node_view(child, errors, lookups, f"{path}.{i}") for i, child in enumerate(children)
            ],
            errors=own_errors,
            depth=depth,
        )
    name = raw.get("field")
    spec = FIELDS.get(name)
    view = NodeView(
        path=path, is_group=False, field_name=name or "", spec=spec, errors=own_errors, depth=depth
    )
    if spec is None:
        return view
    op = raw.get("op") if raw.get("op") in spec.ops else spec.ops[0]
    view.op = op
    view.ops = [(o, spec.op_label(o)) for o in spec.ops]
    value = raw.get("value")
    kind = spec.kind
    if kind == "bool":
        view.widget = "bool"
        view.bool_value = value is not False
    elif kind in ("choice", "ids", "tag"):
        view.widget = "choices"
        options = spec.choices() if spec.choices else lookups.get(spec.name, [])
        selected = set(value) if isinstance(value, list) else set()
        known = {v for v, _label in options}
        view.choices = [Choice(v, str(label), v in selected) for v, label in options]
        view.choices += [Choice(v, f"#{v}", True) for v in selected - known]  # ids not offered
    elif kind in ("text", "product"):
        view.widget = "text"
        view.value = "、".join(str(v) for v in value) if isinstance(value, list) else _text(value)
        view.datalist = "segment-products" if kind == "product" else ""
    elif kind in ("number", "money"):
        show = _yuan if kind == "money" else _text
        view.widget = "money" if kind == "money" else "number"
        if op == "between" and isinstance(value, list) and len(value) == 2:
            view.value_lo, view.value_hi = show(value[0]), show(value[1])
        elif op != "between":
            view.value = show(value)
    elif kind == "date":
        if op in ("is_set", "is_empty"):
            view.widget = "none"
        elif op in DAY_OPS:
            view.widget = "days"
            view.value = _text(value)
        elif op == "between":
            view.widget = "date_range"
            if isinstance(value, list) and len(value) == 2:
                view.value_lo, view.value_hi = _text(value[0]), _text(value[1])
        else:
            view.widget = "date"
            view.value = _text(value)
    if spec.window:
        if raw.get("within_days") is not None:
            view.window, view.within_days = "days", _text(raw.get("within_days"))
        elif raw.get("since") or raw.get("until"):
            view.window = "dates"
            view.since, view.until = _text(raw.get("since")), _text(raw.get("until"))
    if spec.categories:
        chosen = set(raw.get("categories") or [])
        view.categories = [
            Choice(v, str(label), v in chosen) for v, label in lookups.get("bought_category", [])
        ]
    return view


def _is_attr_error(error_path: str, node_path: str) -> bool:
    """``rule.children[1].value[0]`` belongs to ``rule.children[1]``; its children's do not."""
    if not error_path.startswith(node_path + "."):
        return False
    rest = error_path[len(node_path) + 1 :]
    return not rest.startswith("children[")


def date_ops() -> tuple[str, ...]:
    return DATE_OPS


def window_choices() -> list[tuple[str, str]]:
    return [
        ("all", _("any time")),
        ("days", _("in the last N days")),
        ("dates", _("between dates")),
    ]
