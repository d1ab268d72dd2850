"""Request and response shapes of /api/v1/segments/ (the rule itself is checked by rules.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema

RULE_EXAMPLE = {
    "op": "and",
    "children": [
        {"field": "rfm_group", "op": "in", "value": ["at_risk", "cant_lose"]},
        {"field": "spent", "op": "gte", "value": 50000, "within_days": 365},
        {"op": "not", "children": [{"field": "contactable", "op": "in", "value": ["wecom"]}]},
    ],
}
RULE_HELP = (
    "A rule tree: groups {op: and|or|not, children: [...]} and conditions "
    "{field, op, value, [within_days|since|until]}. GET /api/v1/segments/fields lists every "
    "field, operator and choice, and a JSON Schema; docs/segments.md explains them."
)


class RuleIn(Schema):
    rule: dict[str, Any] = Field(..., description=RULE_HELP, examples=[RULE_EXAMPLE])


class PreviewIn(RuleIn):
    limit: int = Field(20, ge=1, le=100)
    after: int | None = Field(None, description="customer id to continue after (next_after)")


class SegmentIn(Schema):
    name: str = Field(..., max_length=100)
    description: str = ""
    rule: dict[str, Any] = Field(..., description=RULE_HELP, examples=[RULE_EXAMPLE])


class SegmentPatch(Schema):
    name: str | None = Field(None, max_length=100)
    description: str | None = None
    rule: dict[str, Any] | None = Field(None, description=RULE_HELP)


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    rule: dict[str, Any]
    summary: str
    store_id: int | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived: bool
    editable: bool


class CountOut(Schema):
    count: int = Field(..., description="customers in your scope who match")
    in_scope: int = Field(..., description="all customers in your scope")
    share: float | None
    seconds: float = Field(..., description="time the query took")
    data_as_of: datetime | None = Field(None, description="when the data was read (snapshot)")
    scores_as_of: date | None = Field(None, description="the scoring run the scores come from")


class MemberOut(Schema):
    customer_id: int
    name: str
    phone: str = Field(..., description="masked")
    source: str
    city: str
    store_id: int | None
    in_pool: bool
    opted_out: bool
    orders: int
    net_spend_fen: int
    last_purchase_on: date | None
    rfm_group: str | None
    lifecycle: str | None
    p_alive: float | None
    clv_365d_fen: int | None
    next_purchase_on: date | None


class PreviewOut(Schema):
    members: list[MemberOut]
    next_after: int | None


class MaterialiseIn(Schema):
    channel: str = Field(
        "",
        description="keep only customers contactable on this channel (sms, wecom, ...); "
        "empty keeps everyone and flags opt-outs",
    )


class SnapshotOut(Schema):
    id: int
    segment_id: int
    created_at: datetime
    created_by: str
    scope: str
    channel: str
    members: int
    opted_out: int
    excluded: int
    data_as_of: datetime | None
    scores_as_of: date | None
    seconds: float


class FieldsOut(Schema):
    fields: list[dict[str, Any]]
    group_ops: list[str]
    rule_schema: dict[str, Any]
