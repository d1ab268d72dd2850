"""/api/v1/segments/: saved segments, live counts, member previews, materialisation and export."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Status

from siyu.core.api import ErrorBody, actor
from siyu.core.errors import ValidationFailed

from . import services
from .models import Segment, SegmentSnapshot
from .responses import download
from .rules import GROUP_OPS, catalogue, json_schema
from .schemas import (
    CountOut,
    FieldsOut,
    MaterialiseIn,
    PreviewIn,
    PreviewOut,
    RuleIn,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
    SnapshotOut,
)

router = Router(tags=["segments"])
ERRORS = {400: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody}


def _segment_out(request, segment: Segment) -> dict:
    who = actor(request)
    user = segment.created_by
    return {
        "id": segment.pk,
        "name": segment.name,
        "description": segment.description,
        "rule": segment.rule,
        "summary": services.describe_rule(segment.rule),
        "store_id": segment.store_id,
        "created_by": (user.display_name or user.username) if user else "",
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
        "archived": segment.archived_at is not None,
        "editable": services.can_edit(who, segment),
    }


def _snapshot_out(snap: SegmentSnapshot) -> dict:
    return {
        "id": snap.pk,
        "segment_id": snap.segment_id,
        "created_at": snap.created_at,
        "created_by": snap.created_by_label,
        "scope": snap.scope,
        "channel": snap.channel,
        "members": snap.members,
        "opted_out": snap.opted_out,
        "excluded": snap.excluded,
        "data_as_of": snap.data_as_of,
        "scores_as_of": snap.scores_as_of,
        "seconds": snap.seconds,
    }


def _preview_out(result: services.Preview) -> dict:
    members = []
    for m in result.members:
        f = m.facts
        members.append(
            {
                "customer_id": m.customer_id,
                "name": m.name,
                "phone": m.phone,
                **{k: f.get(k) for k in services.PREVIEW_COLUMNS if k != "customer_id"},
            }
        )
    return {"members": members, "next_after": result.next_after}


@router.get("/fields", response=FieldsOut)
def fields(request: HttpRequest):
    """The rule language: every field with its operators and choices, and a JSON Schema."""
    return {"fields": catalogue(), "group_ops": list(GROUP_OPS), "rule_schema": json_schema()}


@router.get("/", response=list[SegmentOut])
def list_segments(request: HttpRequest, archived: bool = False):
    """Saved segments you may see (a store's staff see brand-wide ones and their store's)."""
    qs = services.segments_visible_to(actor(request), include_archived=archived)
    if archived:
        qs = qs.filter(archived_at__isnull=False)
    return [_segment_out(request, s) for s in qs[:500]]


@router.post("/", response={201: SegmentOut, **ERRORS})
def create_segment(request: HttpRequest, payload: SegmentIn):
    segment = services.create_segment(
        actor(request), name=payload.name, rule=payload.rule, description=payload.description
    )
    return Status(201, _segment_out(request, segment))


@router.post("/count", response={200: CountOut, **ERRORS})
def count_rule(request: HttpRequest, payload: RuleIn):
    """Count an unsaved rule in your scope (what the console builder does as you type)."""
    return services.count(actor(request), payload.rule).as_dict()


@router.post("/preview", response={200: PreviewOut, **ERRORS})
def preview_rule(request: HttpRequest, payload: PreviewIn):
    result = services.preview(
        actor(request), payload.rule, limit=payload.limit, after=payload.after
    )
    return _preview_out(result)


def _format(fmt: str) -> str:
    if fmt not in services.FORMATS:
        raise ValidationFailed(fields={"format": "csv or xlsx"})
    return fmt


@router.post("/export", response={200: None, **ERRORS})
def export_rule(request: HttpRequest, payload: RuleIn, format: str = "csv"):
    """Members of an unsaved rule as CSV or XLSX (personal data as your role allows)."""
    fmt = _format(format)
    plan = services.plan_export(actor(request), rule=payload.rule)
    return download(plan, fmt, "segment")


@router.get("/snapshots/{snapshot_id}", response={200: SnapshotOut, **ERRORS})
def get_snapshot(request: HttpRequest, snapshot_id: int):
    return _snapshot_out(services.get_snapshot(actor(request), snapshot_id))


@router.get("/snapshots/{snapshot_id}/export", response={200: None, **ERRORS})
def export_snapshot(request: HttpRequest, snapshot_id: int, format: str = "csv"):
    fmt = _format(format)
    plan = services.plan_export(actor(request), snapshot_id=snapshot_id)
    return download(plan, fmt, f"segment-snapshot-{snapshot_id}")


@router.get("/{segment_id}", response={200: SegmentOut, **ERRORS})
def get_segment(request: HttpRequest, segment_id: int):
    return _segment_out(request, services.get_segment(actor(request), segment_id))


@router.patch("/{segment_id}", response={200: SegmentOut, **ERRORS})
def update_segment(request: HttpRequest, segment_id: int, payload: SegmentPatch):
    segment = services.update_segment(
        actor(request),
        segment_id,
        name=payload.name,
        rule=payload.rule,
        description=payload.description,
    )
    return _segment_out(request, segment)


@router.delete("/{segment_id}", response={204: None, **ERRORS})
def archive_segment(request: HttpRequest, segment_id: int):
    """Archive the segment (its materialised snapshots stay)."""
    services.archive_segment(actor(request), segment_id)
    return Status(204, None)


@router.get("/{segment_id}/count", response={200: CountOut, **ERRORS})
def count_segment(request: HttpRequest, segment_id: int):
    return services.count_segment(actor(request), segment_id).as_dict()


@router.get("/{segment_id}/members", response={200: PreviewOut, **ERRORS})
def segment_members(
    request: HttpRequest, segment_id: int, limit: int = 20, after: Query[int | None] = None
):
    """A page of members, newest customers first; pass next_after as `after` for the next page."""
    who = actor(request)
    segment = services.get_segment(who, segment_id)
    return _preview_out(services.preview(who, segment.rule, limit=limit, after=after))


@router.post("/{segment_id}/materialise", response={201: SnapshotOut, **ERRORS})
def materialise(request: HttpRequest, segment_id: int, payload: MaterialiseIn):
    """Freeze the members now (in your scope) for a campaign; see docs/segments.md."""
    snap = services.materialise(actor(request), segment_id, channel=payload.channel)
    return Status(201, _snapshot_out(snap))


@router.get("/{segment_id}/snapshots", response={200: list[SnapshotOut], **ERRORS})
def list_snapshots(request: HttpRequest, segment_id: int):
    return [_snapshot_out(s) for s in services.snapshots_of(actor(request), segment_id)[:200]]


@router.get("/{segment_id}/export", response={200: None, **ERRORS})
def export_segment(request: HttpRequest, segment_id: int, format: str = "csv"):
    """The segment's members now, as CSV or XLSX (personal data as your role allows)."""
    fmt = _format(format)
    who = actor(request)
    segment = services.get_segment(who, segment_id)
    plan = services.plan_export(who, rule=segment.rule, label=segment.name)
    return download(plan, fmt, f"segment-{segment_id}")
