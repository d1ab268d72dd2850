"""Background work for imports: one task per uploaded file."""

from __future__ import annotations

from django_tasks import task


@task()
def process_import(job_id: int) -> None:
    """Import an uploaded export (idempotent: a job already running or done is left alone)."""
    from .services import run

    run(job_id)
