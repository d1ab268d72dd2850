"""An import job: one export file, its progress while a worker reads it, and its report."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from siyu.core.states import StatusHistory

from .presets import PRESET_CHOICES


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


# queued -> running -> done | failed; a failed job (or one whose worker died) can be queued again.
TRANSITIONS = {
    ImportStatus.QUEUED: frozenset({ImportStatus.RUNNING, ImportStatus.FAILED}),
    ImportStatus.RUNNING: frozenset({ImportStatus.DONE, ImportStatus.FAILED}),
    ImportStatus.FAILED: frozenset({ImportStatus.QUEUED}),
    ImportStatus.DONE: frozenset(),
}


def _upload_to(instance: ImportJob, filename: str) -> str:
    return timezone.now().strftime("imports/%Y/%m/") + filename


class ImportJob(models.Model):
    preset = models.CharField(_("preset"), max_length=10, choices=PRESET_CHOICES)
    platform = models.CharField(_("platform"), max_length=10, blank=True)
    file = models.FileField(_("file"), upload_to=_upload_to, blank=True, max_length=255)
    source_path = models.CharField(
        _("file on the server"), max_length=500, blank=True, help_text="command-line imports"
    )
    original_name = models.CharField(_("file name"), max_length=255)
    file_size = models.BigIntegerField(_("size"), default=0)
    file_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    mapping = models.TextField(_("mapping (TOML)"), blank=True)
    dry_run = models.BooleanField(_("check only (dry run)"), default=False)
    # the uploader's language: rejection reasons are written in it
    language = models.CharField(max_length=10, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    # what the reader found
    file_format = models.CharField(max_length=10, blank=True)
    encoding = models.CharField(max_length=20, blank=True)
    header_row = models.PositiveIntegerField(default=0)
    # progress
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows read"), default=0)
    # the report (see report())
    orders_created = models.PositiveIntegerField(default=0)
    orders_updated = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    customers_created = models.PositiveIntegerField(default=0)
    customers_matched = models.PositiveIntegerField(default=0)
    merge_suggestions = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("order import")
        verbose_name_plural = _("order imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.original_name}"

    @property
    def touch_ref(self) -> str:
        """Business key of this job's touches on customers (one per customer per job)."""
        return f"import:{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)

    @property
    def progress_percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, int(self.rows_done * 100 / self.rows_total))

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class ImportJobStatusChange(StatusHistory):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="history")

    class Meta(StatusHistory.Meta):
        verbose_name = _("import status change")


class RejectedRow(models.Model):
    """A row the import refused, with the row number a spreadsheet shows and the reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejected_rows")
    line = models.PositiveIntegerField(_("line"))
    reason = models.CharField(_("reason"), max_length=500)

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="import_rejected_job_line_idx")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
