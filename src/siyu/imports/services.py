"""Order import jobs: upload, run (in the worker or from `siyu import-orders`), report.

An upload is checked (permission, preset, mapping file) and stored; a background task runs it.
Running reads the whole file once to refuse an unreadable file or an unknown header set before
anything is written, then imports it batch by batch (pipeline.py). The report has exactly the
shape the command writes with --report.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from siyu.core import audit, events
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.core.states import transition
from siyu.customers import bulk as customer_bulk
from siyu.orders.events import OrdersImported

from .models import TRANSITIONS, ImportJob, ImportJobStatusChange, ImportStatus, RejectedRow
from .pipeline import Counters, Importer
from .presets import PRESETS, MappingError, resolve_preset
from .reader import UnreadableFile, open_export

log = logging.getLogger(__name__)

PERMISSION = "orders.import"
ALLOWED_SUFFIXES = (".csv", ".xlsx", ".txt", ".tsv")
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class ImportFailed(Exception):
    """The file could not be processed; `job` holds the error (nothing was imported)."""

    def __init__(self, job: ImportJob) -> None:
        super().__init__(job.error)
        self.job = job


# --- starting ---------------------------------------------------------------------------------------


def _check_options(preset: str, mapping_text: str) -> None:
    if preset not in PRESETS:
        raise ValidationFailed(
            _("Choose a platform preset."), fields={"preset": _("Unknown preset")}
        )
    try:
        resolve_preset(preset, mapping_text)
    except MappingError as exc:
        raise ValidationFailed(str(exc), fields={"mapping": str(exc)}) from exc


def start_upload(
    *,
    uploaded: UploadedFile,
    preset: str,
    actor: Actor,
    mapping_text: str = "",
    dry_run: bool = False,
    language: str = "",
) -> ImportJob:
    """Store an uploaded export and queue its import."""
    authorize(actor, PERMISSION)
    _check_options(preset, mapping_text)
    name = Path(uploaded.name or "export.csv").name
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise ValidationFailed(
            _("Upload a CSV or XLSX file exported from the platform."),
            fields={"file": _("Only .csv and .xlsx files can be imported.")},
        )
    if uploaded.size and uploaded.size > MAX_UPLOAD_BYTES:
        raise ValidationFailed(
            _("The file is too large (at most 512 MB)."), fields={"file": _("File too large")}
        )
    digest = hashlib.sha256()
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    with transaction.atomic():
        job = ImportJob(
            preset=preset,
            platform=resolve_preset(preset, mapping_text).platform,
            original_name=name[:255],
            file_size=uploaded.size or 0,
            file_sha256=digest.hexdigest(),
            mapping=mapping_text,
            dry_run=dry_run,
            language=language or translation.get_language() or "",
            created_by_id=actor.user_id,
            created_by_label=actor.label[:150],
        )
        job.file.save(f"{timezone.now():%Y%m%d%H%M%S}-{name}", uploaded, save=False)
        job.save()
        audit.record(
            actor,
            "orders.import_uploaded",
            obj=job,
            summary=f"{preset}: {name}",
            data={"dry_run": dry_run, "size": job.file_size},
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    from .tasks import process_import

    process_import.enqueue(job_id)


def retry(job_id: int, *, actor: Actor) -> ImportJob:
    """Queue a failed job again (its file is kept until it succeeds)."""
    authorize(actor, PERMISSION)
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            raise NotFound()
        if not job.file:
            raise Conflict(_("The uploaded file is no longer there; upload it again."))
        _move(job, ImportStatus.QUEUED, actor, note=_("queued again"))
        job.error = job.error_code = ""
        job.save(update_fields=["error", "error_code"])
        RejectedRow.objects.filter(job=job).delete()
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def import_path(
    path: str | Path,
    *,
    preset: str,
    actor: Actor,
    mapping_text: str = "",
    dry_run: bool = False,
) -> ImportJob:
    """Import a file on this machine now (the `siyu import-orders` command). Raises ImportFailed
    when the file could not be processed."""
    authorize(actor, PERMISSION)
    path = Path(path)
    try:
        resolve_preset(preset, mapping_text)
    except MappingError as exc:
        raise ValidationFailed(str(exc), fields={"mapping": str(exc)}) from exc
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ValidationFailed(
            _("The file cannot be opened: %(error)s") % {"error": exc}, fields={"file": str(exc)}
        ) from exc
    job = ImportJob.objects.create(
        preset=preset,
        platform=resolve_preset(preset, mapping_text).platform,
        source_path=str(path.resolve())[:500],
        original_name=path.name[:255],
        file_size=size,
        file_sha256=digest.hexdigest(),
        mapping=mapping_text,
        dry_run=dry_run,
        language=translation.get_language() or "",
        created_by_id=actor.user_id,
        created_by_label=actor.label[:150],
    )
    run(job.pk, actor=actor)
    job.refresh_from_db()
    if job.status == ImportStatus.FAILED:
        raise ImportFailed(job)
    return job


# --- running ----------------------------------------------------------------------------------------


def _move(job: ImportJob, target: str, actor: Actor, note: str = "") -> None:
    transition(
        job,
        target,
        table=TRANSITIONS,
        history=ImportJobStatusChange,
        subject_field="job",
        actor=actor,
        note=note,
    )


def _job_actor(job: ImportJob) -> Actor:
    if job.created_by is not None:
        return Actor.for_user(job.created_by)
    return Actor.system(job.created_by_label or "import")


def run(job_id: int, *, actor: Actor | None = None) -> None:
    """Process a queued job (idempotent: a job that is not queued is left alone)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != ImportStatus.QUEUED:
            return
        actor = actor or _job_actor(job)
        job.started_at = timezone.now()
        job.save(update_fields=["started_at"])
        _move(job, ImportStatus.RUNNING, actor)
    with translation.override(job.language or None):
        try:
            _run(job, actor)
        except (UnreadableFile, MappingError) as exc:
            _fail(job, actor, getattr(exc, "code", "mapping"), getattr(exc, "message", str(exc)))
        except Exception as exc:
            log.exception("import %s failed", job.pk)
            _fail(job, actor, "internal", _("The import stopped: %(error)s") % {"error": exc})


def _source(job: ImportJob) -> Path:
    if job.source_path:
        return Path(job.source_path)
    return Path(job.file.path)


def _run(job: ImportJob, actor: Actor) -> None:
    preset = resolve_preset(job.preset, job.mapping)
    export = open_export(_source(job), preset)
    job.file_format = export.kind
    job.encoding = export.encoding
    job.header_row = export.header_row
    job.rows_total = export.data_rows
    job.save(update_fields=["file_format", "encoding", "header_row", "rows_total"])

    if job.dry_run:
        importer = Importer(job, preset, export, actor=actor, progress=None)
        rejects: list[tuple[int, str]] = []
        importer.collect_rejects = rejects
        with transaction.atomic():
            counters = importer.run()
            counters.customers_matched = _matched(job, counters)
            transaction.set_rollback(True)
        RejectedRow.objects.bulk_create(
            [RejectedRow(job=job, line=line, reason=reason[:500]) for line, reason in rejects],
            batch_size=2000,
        )
    else:
        importer = Importer(job, preset, export, actor=actor, progress=_save_progress)
        counters = importer.run()
        counters.customers_matched = _matched(job, counters)

    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        _apply(job, counters)
        job.rows_done = counters.rows
        job.finished_at = timezone.now()
        job.save()
        _move(job, ImportStatus.DONE, actor)
        if not job.dry_run:
            audit.record(
                actor,
                "orders.imported",
                obj=job,
                summary=summary_line(job),
                data=report(job, include_rejected=False),
            )
            events.publish(
                OrdersImported(
                    job_id=job.pk,
                    orders_created=counters.orders_created,
                    orders_updated=counters.orders_updated,
                )
            )
    if job.file and not job.dry_run:
        # the export holds personal data in clear: keep it no longer than needed
        job.file.delete(save=True)


def _matched(job: ImportJob, counters: Counters) -> int:
    touched = customer_bulk.touched_customers(source=_touch_source(job.platform), ref=job.touch_ref)
    return max(0, touched - counters.customers_created)


def _touch_source(platform: str) -> str:
    from siyu.customers.identity import PLATFORM_IDENTITY

    return platform if platform in PLATFORM_IDENTITY else "platform"


def _apply(job: ImportJob, c: Counters) -> None:
    job.orders_created = c.orders_created
    job.orders_updated = c.orders_updated
    job.duplicates = c.duplicates
    job.rejected_count = c.rejected
    job.customers_created = c.customers_created
    job.customers_matched = c.customers_matched
    job.merge_suggestions = c.merge_suggestions


def _save_progress(job: ImportJob, c: Counters) -> None:
    """Runs inside each batch's transaction, so progress commits with the rows it counts."""
    ImportJob.objects.filter(pk=job.pk).update(
        rows_done=c.rows,
        orders_created=c.orders_created,
        orders_updated=c.orders_updated,
        duplicates=c.duplicates,
        rejected_count=c.rejected,
        customers_created=c.customers_created,
        merge_suggestions=c.merge_suggestions,
    )


def _fail(job: ImportJob, actor: Actor, code: str, message: str) -> None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        job.error_code = code[:40]
        job.error = message
        job.finished_at = timezone.now()
        job.save(update_fields=["error_code", "error", "finished_at"])
        _move(job, ImportStatus.FAILED, actor, note=message[:500])


# --- reading results --------------------------------------------------------------------------------


def jobs_for(actor: Actor):
    authorize(actor, PERMISSION)
    return ImportJob.objects.all()


def get_job(job_id: int, *, actor: Actor) -> ImportJob:
    authorize(actor, PERMISSION)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound()
    return job


def report(job: ImportJob, *, include_rejected: bool = True) -> dict:
    """The import report, exactly as `--report` writes it."""
    rejected = (
        [{"line": line, "reason": reason} for line, reason in _rejected_rows(job)]
        if include_rejected
        else job.rejected_count
    )
    return {
        "rows": job.rows_done,
        "orders_created": job.orders_created,
        "orders_updated": job.orders_updated,
        "duplicates": job.duplicates,
        "rejected": rejected,
        "customers_created": job.customers_created,
        "customers_matched": job.customers_matched,
    }


def _rejected_rows(job: ImportJob) -> Iterator[tuple[int, str]]:
    return (
        RejectedRow.objects.filter(job=job)
        .order_by("line", "id")
        .values_list("line", "reason")
        .iterator(chunk_size=5000)
    )


def report_json_chunks(job: ImportJob) -> Iterator[str]:
    """The report as JSON text, streamed (a bad file can have a million rejected rows)."""
    head = report(job, include_rejected=False)
    yield "{"
    for key in ("rows", "orders_created", "orders_updated", "duplicates"):
        yield f'"{key}": {head[key]}, '
    yield '"rejected": ['
    first = True
    for line, reason in _rejected_rows(job):
        yield ("" if first else ", ") + json.dumps(
            {"line": line, "reason": reason}, ensure_ascii=False
        )
        first = False
    yield "], "
    yield f'"customers_created": {head["customers_created"]}, '
    yield f'"customers_matched": {head["customers_matched"]}'
    yield "}\n"


def summary_line(job: ImportJob) -> str:
    """One line for the terminal and the audit trail."""
    verb = _("checked (dry run, nothing saved)") if job.dry_run else _("imported")
    seconds = job.seconds
    took = _(" in %(seconds).1f s") % {"seconds": seconds} if seconds is not None else ""
    return _(
        "%(file)s %(verb)s: %(rows)s rows, %(created)s orders created, %(updated)s updated, "
        "%(dups)s duplicates, %(rejected)s rejected; %(cc)s customers created, %(cm)s matched%(took)s"
    ) % {
        "file": job.original_name,
        "verb": verb,
        "rows": f"{job.rows_done:,}",
        "created": f"{job.orders_created:,}",
        "updated": f"{job.orders_updated:,}",
        "dups": f"{job.duplicates:,}",
        "rejected": f"{job.rejected_count:,}",
        "cc": f"{job.customers_created:,}",
        "cm": f"{job.customers_matched:,}",
        "took": took,
    }
