"""Console pages: upload an export, watch its progress, read its report."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request
from siyu.core.errors import ValidationFailed
from siyu.core.pagination import page_from_request

from . import services
from .forms import ImportForm
from .models import RejectedRow
from .presets import PRESETS

REJECTED_PAGE = 100


@login_required
def job_list(request):
    actor = actor_from_request(request)
    jobs = services.jobs_for(actor)
    form = ImportForm()
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = services.start_upload(
                    uploaded=data["file"],
                    preset=data["preset"],
                    mapping_text=data["mapping"],
                    dry_run=data["dry_run"],
                    actor=actor,
                    language=getattr(request, "LANGUAGE_CODE", ""),
                )
            except ValidationFailed as exc:
                for field, message in exc.fields.items():
                    form.add_error(field if field in form.fields else None, message)
                if not exc.fields:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, _("The file was uploaded; the import is running."))
                return redirect("imports:detail", job_id=job.pk)
    page = page_from_request(request, jobs, size=20)
    presets = [p for p in PRESETS.values() if p.key != "generic"]
    return render(
        request,
        "imports/list.html",
        {"title": _("Order imports"), "form": form, "page": page, "presets": presets},
    )


def _rejected_page(request, job):
    try:
        after = int(request.GET.get("after_line", "0") or 0)
    except ValueError:
        after = 0
    rows = list(
        RejectedRow.objects.filter(job=job, line__gt=after).order_by("line", "id")[
            : REJECTED_PAGE + 1
        ]
    )
    more = len(rows) > REJECTED_PAGE
    rows = rows[:REJECTED_PAGE]
    return rows, (rows[-1].line if more and rows else None), after


@login_required
def job_detail(request, job_id: int):
    job = services.get_job(job_id, actor=actor_from_request(request))
    rows, next_line, after = _rejected_page(request, job)
    return render(
        request,
        "imports/detail.html",
        {
            "title": _("Import #%(id)s") % {"id": job.pk},
            "job": job,
            "rejected": rows,
            "next_line": next_line,
            "after_line": after,
            "history": job.history.all(),
        },
    )


@login_required
def job_progress(request, job_id: int):
    """The progress fragment htmx polls; a finished job makes the page reload into its report."""
    job = services.get_job(job_id, actor=actor_from_request(request))
    response = render(request, "imports/_progress.html", {"job": job})
    if job.is_finished and request.htmx:
        response["HX-Refresh"] = "true"
    return response


@login_required
def job_report_json(request, job_id: int):
    job = services.get_job(job_id, actor=actor_from_request(request))
    if not job.is_finished:
        return HttpResponse(status=409)
    response = StreamingHttpResponse(
        services.report_json_chunks(job), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.json"'
    return response


@login_required
@require_POST
def job_retry(request, job_id: int):
    services.retry(job_id, actor=actor_from_request(request))
    messages.success(request, _("The import was queued again."))
    return redirect("imports:detail", job_id=job_id)
