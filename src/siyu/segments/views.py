"""Console pages: saved segments, the rule builder with its live count, members, snapshots, export."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import Role, actor_from_request, authorize
from siyu.core.errors import PermissionDenied, ValidationFailed

from . import builder, index, services
from .responses import download
from .rules import GROUP_OPS, InvalidRule


def _lookups(actor) -> dict[str, list]:
    """Names for the id fields (stores, clerks, tags, categories) the builder offers."""
    from siyu.customers.models import Tag
    from siyu.staff.models import Store, User

    stores = Store.objects.filter(is_active=True)
    clerks = User.objects.filter(role=Role.CLERK, is_active=True)
    if not actor.sees_all_stores:
        stores = stores.filter(pk=actor.store_id)
        clerks = clerks.filter(store_id=actor.store_id)
    out: dict[str, list] = {
        "store": [(s.pk, s.name) for s in stores],
        "owner": [(u.pk, u.display_name or u.username) for u in clerks.order_by("username")],
        "tag": [(t.pk, f"{t.group.name}: {t.name}") for t in Tag.objects.select_related("group")],
        "bought_category": [],
        "products": [],
    }
    try:
        cur, _meta = index.fresh_connection()
    except index.IndexUnavailable:
        return out
    try:
        out["bought_category"] = [
            (cid, name or f"#{cid}")
            for cid, name in cur.execute(
                "SELECT category_id, name FROM categories ORDER BY buyers DESC LIMIT 500"
            ).fetchall()
        ]
        out["products"] = cur.execute(
            "SELECT product, title FROM products ORDER BY buyers DESC LIMIT 500"
        ).fetchall()
    finally:
        cur.close()
    return out


def _builder_context(actor, raw_rule: dict, errors: dict | None = None) -> dict:
    lookups = _lookups(actor)
    return {
        "tree": builder.node_view(raw_rule, errors or {}, lookups),
        "field_options": builder.field_options(),
        "group_ops": [(k, str(v)) for k, v in GROUP_OPS.items()],
        "window_choices": builder.window_choices(),
        "products": lookups["products"],
        "rule_json": json.dumps(raw_rule, ensure_ascii=False, indent=2),
    }


@login_required
def segment_list(request):
    actor = actor_from_request(request)
    segments = list(services.segments_visible_to(actor).order_by("name", "pk")[:500])
    rows = [
        {
            "segment": s,
            "summary": services.describe_rule(s.rule),
            "editable": services.can_edit(actor, s),
        }
        for s in segments
    ]
    return render(
        request,
        "segments/list.html",
        {
            "title": _("Segments"),
            "rows": rows,
            "can_edit": actor.can("segments.edit"),
            "index": index.info(),
        },
    )


def _save(request, actor, segment=None):
    raw = builder.rule_from_form(request.POST)
    name = request.POST.get("name", "")
    description = request.POST.get("description", "")
    try:
        if segment is None:
            segment = services.create_segment(actor, name=name, rule=raw, description=description)
        else:
            segment = services.update_segment(
                actor, segment.pk, name=name, rule=raw, description=description
            )
    except ValidationFailed as exc:
        return None, raw, exc.fields
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return segment, raw, {}


@login_required
def segment_new(request):
    actor = actor_from_request(request)
    authorize(actor, "segments.edit")
    raw, errors, form = builder.default_rule(), {}, {"name": "", "description": ""}
    if request.method == "POST":
        saved, raw, errors = _save(request, actor)
        if saved:
            return redirect("segments:detail", saved.pk)
        form = {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
        }
    elif request.GET.get("from"):
        source = services.get_segment(actor, int(request.GET["from"]))
        raw = source.rule
        form = {
            "name": _("Copy of %(name)s") % {"name": source.name},
            "description": source.description,
        }
    context = _builder_context(actor, raw, errors)
    context |= {
        "title": _("New segment"),
        "form": form,
        "errors": errors,
        "action": reverse("segments:new"),
    }
    return render(request, "segments/builder.html", context)


@login_required
def segment_edit(request, segment_id: int):
    actor = actor_from_request(request)
    segment = services.get_segment(actor, segment_id)
    if not services.can_edit(actor, segment):
        authorize(actor, "segments.edit")
        raise PermissionDenied(
            _("Only its author, the store's manager or an operator may change it.")
        )
    raw, errors = segment.rule, {}
    form = {"name": segment.name, "description": segment.description}
    if request.method == "POST":
        saved, raw, errors = _save(request, actor, segment)
        if saved:
            return redirect("segments:detail", saved.pk)
        form = {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
        }
    context = _builder_context(actor, raw, errors)
    context |= {
        "title": _("Edit segment"),
        "segment": segment,
        "form": form,
        "errors": errors,
        "action": reverse("segments:edit", args=[segment.pk]),
    }
    return render(request, "segments/builder.html", context)


@login_required
@require_POST
def builder_update(request):
    """htmx: apply an add/remove and draw the tree again (with the errors of what is there)."""
    actor = actor_from_request(request)
    authorize(actor, "segments.view")
    raw = builder.rule_from_form(request.POST)
    raw = builder.apply_action(raw, request.POST.get("action", ""))
    # problems are not marked while building (the live count names the first); saving marks all
    return render(request, "segments/_builder_inner.html", _builder_context(actor, raw))


@login_required
@require_POST
def builder_count(request):
    """htmx: the live count of the rule in the builder, in the actor's scope."""
    actor = actor_from_request(request)
    raw = builder.rule_from_form(request.POST)
    context: dict = {"rule_json": json.dumps(raw, ensure_ascii=False, indent=2)}
    try:
        context["result"] = services.count(actor, raw)
    except InvalidRule as exc:
        path, message = next(iter(exc.fields.items()))
        context["invalid"] = message
        context["invalid_path"] = path
    except services.NoData as exc:
        context["no_data"] = exc.message
    return render(request, "segments/_count.html", context)


@login_required
def segment_detail(request, segment_id: int):
    actor = actor_from_request(request)
    segment = services.get_segment(actor, segment_id, include_archived=True)
    context = {
        "title": segment.name,
        "segment": segment,
        "summary": services.describe_rule(segment.rule),
        "rule_json": json.dumps(segment.rule, ensure_ascii=False, indent=2),
        "editable": services.can_edit(actor, segment),
        "can_copy": actor.can("segments.edit"),
        "labels": _labels(),
        "can_materialise": actor.can("segments.materialise") and not segment.archived_at,
        "can_export": actor.can("segments.export") and actor.can("customers.view"),
        "can_preview": actor.can("customers.view"),
        "snapshots": services.snapshots_of(actor, segment.pk)[:20],
        "channels": _channels(),
        "pii": {
            "names": actor.can("customers.view_pii"),
            "phones": actor.can("customers.export"),
        },
    }
    try:
        context["result"] = services.count(actor, segment.rule)
        if context["can_preview"]:
            context["preview"] = services.preview(actor, segment.rule, limit=20)
    except services.NoData as exc:
        context["no_data"] = exc.message
    return render(request, "segments/detail.html", context)


def _labels() -> dict:
    from siyu.analytics.models import Lifecycle, RfmGroup
    from siyu.customers.models import Source

    return {
        "source": dict(Source.choices),
        "rfm": dict(RfmGroup.choices),
        "lifecycle": dict(Lifecycle.choices),
    }


def _channels():
    from siyu.customers.models import ConsentChannel

    return ConsentChannel.choices


@login_required
def segment_members(request, segment_id: int):
    """htmx: the next page of the member preview."""
    actor = actor_from_request(request)
    segment = services.get_segment(actor, segment_id, include_archived=True)
    after = request.GET.get("after")
    page = services.preview(actor, segment.rule, limit=20, after=int(after) if after else None)
    return render(request, "segments/_members.html", {"segment": segment, "preview": page})


@login_required
def segment_count(request, segment_id: int):
    """htmx: one row's count on the list page (each row loads its own)."""
    actor = actor_from_request(request)
    try:
        result = services.count_segment(actor, segment_id)
    except services.NoData:
        return HttpResponse("—")
    except InvalidRule:
        return HttpResponse(_("invalid rule"))
    return render(request, "segments/_list_count.html", {"result": result})


@login_required
@require_POST
def segment_materialise(request, segment_id: int):
    actor = actor_from_request(request)
    snap = services.materialise(actor, segment_id, channel=request.POST.get("channel", ""))
    messages.success(
        request,
        _("Froze %(n)s members (%(out)s left out, %(opted)s opted out).")
        % {"n": f"{snap.members:,}", "out": f"{snap.excluded:,}", "opted": f"{snap.opted_out:,}"},
    )
    return redirect("segments:detail", segment_id)


@login_required
@require_POST
def segment_archive(request, segment_id: int):
    actor = actor_from_request(request)
    segment = services.archive_segment(actor, segment_id)
    messages.success(request, _("Segment “%(name)s” archived.") % {"name": segment.name})
    return redirect("segments:list")


def _fmt(request) -> str:
    fmt = request.GET.get("format", "csv")
    if fmt not in services.FORMATS:
        raise ValidationFailed(_("Use csv or xlsx."), fields={"format": _("Use csv or xlsx.")})
    return fmt


@login_required
def segment_export(request, segment_id: int):
    actor = actor_from_request(request)
    fmt = _fmt(request)
    segment = services.get_segment(actor, segment_id, include_archived=True)
    plan = services.plan_export(actor, rule=segment.rule, label=segment.name)
    return download(plan, fmt, f"segment-{segment.pk}")


@login_required
def snapshot_export(request, snapshot_id: int):
    actor = actor_from_request(request)
    fmt = _fmt(request)
    plan = services.plan_export(actor, snapshot_id=snapshot_id)
    return download(plan, fmt, f"segment-snapshot-{snapshot_id}")
