"""Background jobs: rebuild the segment index after each snapshot replacement, and as a safety
net every few minutes (a no-op when the index already matches the snapshot)."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from siyu.core.schedule import periodic


@periodic("segments.rebuild_index", every=timedelta(minutes=15))
@task(queue_name="default")
def rebuild_index() -> dict:
    """Rebuild the segment index from the current snapshot if it changed."""
    from . import index

    try:
        report = index.build()
    except index.IndexUnavailable:
        return {"built": False, "reason": "no snapshot"}
    return {
        "built": report.built,
        "seconds": round(report.seconds, 3),
        "customers": report.customers,
    }
