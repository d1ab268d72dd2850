"""Console dashboards: overview, cohorts and funnel, sources, products; every chart as CSV too."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from siyu.core.access import actor_from_request, authorize
from siyu.segments.services import NoData

from . import services

TABS = (
    ("overview", _("Overview")),
    ("cohorts", _("Cohorts and funnel")),
    ("channels", _("Sources")),
    ("products", _("Products")),
)


def _csv(chart: services.Chart) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{chart.id}-{stamp}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(chart.columns)
    for row in chart.rows:
        writer.writerow(["" if v is None else v for v in row])
    return response


@login_required
def dashboard(request, page: str = "overview"):
    if page not in services.PAGES:
        raise Http404
    actor = actor_from_request(request)
    authorize(actor, "dashboards.view")
    filters = services.Filters.from_params(request.GET, actor)
    from siyu.customers.models import Source
    from siyu.staff.models import Store

    context = {
        "title": _("Dashboards"),
        "tab": page,
        "tabs": TABS,
        "filters": filters,
        "query": urlencode(filters.as_params()),
        "presets": [
            ("30d", _("30 days")),
            ("90d", _("90 days")),
            ("12m", _("12 months")),
            ("all", _("All time")),
        ],  # fmt: skip
        "sources": Source.choices,
        "stores": [] if filters.store_locked else Store.objects.filter(is_active=True),
        "locked_store": Store.objects.filter(pk=filters.store_id).first()
        if filters.store_locked
        else None,
    }
    try:
        data = services.PAGES[page](actor, filters)
    except NoData as exc:
        context["no_data"] = exc.message
        return render(request, "dashboards/page.html", context)
    download = request.GET.get("download")
    if download:
        chart = data.charts.get(download)
        if chart is None:
            raise Http404
        return _csv(chart)
    context |= {
        "page": data,
        "charts": list(data.charts.values()),
        "figures": {c.id: c.figure for c in data.charts.values() if c.figure},
    }
    return render(request, "dashboards/page.html", context)
