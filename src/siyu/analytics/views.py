"""Console pages: the history of scoring runs and one run's parameters and figures."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import PermissionDenied
from siyu.core.pagination import page_from_request

from . import services
from .models import Lifecycle, RfmGroup


@login_required
def runs(request):
    actor = actor_from_request(request)
    qs = services.score_runs(actor)
    page = page_from_request(request, qs)
    context = {
        "title": _("Score runs"),
        "page": page,
        "brand_wide": actor.sees_all_stores,
        "can_run": actor.can("analytics.run"),
        "rfm_groups": RfmGroup.choices,
        "lifecycles": Lifecycle.choices,
    }
    if not actor.sees_all_stores:
        # a store manager sees today's figures for their own store's customers only
        scores = services.scores_visible_to(actor)
        context["store_figures"] = {
            "customers": scores.count(),
            "rfm": dict(
                scores.exclude(rfm_group="").values_list("rfm_group").annotate(n=Count("pk"))
            ),
            "lifecycle": dict(scores.values_list("lifecycle").annotate(n=Count("pk"))),
            "mean_clv_365d_fen": scores.aggregate(v=Avg("clv_365d_fen"))["v"],
            "replenishment_due": scores.filter(replenishment_due=True).count(),
        }
    return render(request, "analytics/runs.html", context)


@login_required
def run_detail(request, run_id: int):
    actor = actor_from_request(request)
    run = get_object_or_404(services.score_runs(actor), pk=run_id)
    return render(
        request,
        "analytics/run_detail.html",
        {
            "title": _("Score run %(id)s") % {"id": run.pk},
            "run": run,
            "brand_wide": actor.sees_all_stores,
            "rfm_groups": RfmGroup.choices,
            "lifecycles": Lifecycle.choices,
        },
    )


@login_required
def runs_csv(request):
    """The run history as CSV: one row per run, for charting changes over time."""
    actor = actor_from_request(request)
    authorize(actor, "analytics.view")
    if not actor.sees_all_stores:
        raise PermissionDenied(_("Brand-wide figures are not shown to store roles."))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="score-runs.csv"'
    writer = csv.writer(response)
    groups = [g for g, _label in RfmGroup.choices]
    stages = [s for s, _label in Lifecycle.choices]
    writer.writerow(
        [
            "run_id", "as_of", "status", "customers", "buyers", "mean_clv_365d_fen",
            "total_clv_365d_fen", "mean_p_alive", "repeat_rate", "replenishment_due",
            "bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_gamma",
            *(f"rfm_{g}" for g in groups), *(f"stage_{s}" for s in stages),
        ]
    )  # fmt: skip
    for run in services.score_runs(actor).order_by("started_at"):
        f, p = run.figures or {}, run.parameters or {}
        bg, gg = p.get("bgnbd", {}), p.get("gamma_gamma", {})
        writer.writerow(
            [
                run.pk, run.as_of, run.status, run.customers, run.buyers,
                f.get("mean_clv_365d_fen"), f.get("total_clv_365d_fen"), f.get("mean_p_alive"),
                f.get("repeat_rate"), f.get("replenishment_due"),
                bg.get("r"), bg.get("alpha"), bg.get("a"), bg.get("b"),
                gg.get("p"), gg.get("q"), gg.get("gamma"),
                *(f.get("rfm_groups", {}).get(g, 0) for g in groups),
                *(f.get("lifecycle", {}).get(s, 0) for s in stages),
            ]
        )  # fmt: skip
    return response


@login_required
@require_POST
def run_now(request):
    """Queue a scoring run (the worker runs it; it takes about a minute per million customers)."""
    actor = actor_from_request(request)
    authorize(actor, "analytics.run")
    from .tasks import nightly_scoring

    nightly_scoring.enqueue(trigger="console", started_by=actor.label)
    messages.info(request, _("Scoring has been queued; refresh this page in a minute."))
    return redirect("analytics:runs")
