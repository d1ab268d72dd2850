"""Background jobs: nightly scoring at 03:00 and hourly snapshot refreshes."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from siyu.core.access import Actor
from siyu.core.schedule import periodic

from . import conf, snapshot


@periodic("analytics.nightly_scoring", every=timedelta(days=1), at="03:00")
@task(queue_name="default")
def nightly_scoring(trigger: str = "nightly", started_by: str = "") -> dict:
    """Refresh the snapshot and score every customer (RFM, value, CLV, cycles, lifecycle)."""
    from .services import run_scoring

    run = run_scoring(actor=Actor.system(started_by or "nightly scoring"), trigger=trigger)
    return {"run_id": run.pk, "customers": run.customers, "seconds": run.seconds}


@periodic("analytics.refresh_snapshot", every=timedelta(minutes=conf.snapshot_refresh_minutes()))
@task(queue_name="default")
def refresh_snapshot() -> dict:
    """Keep the snapshot fresh between nightly runs, for segments and dashboards."""
    with snapshot.writer() as con:
        report = snapshot.refresh(con)
    return {"seconds": report.seconds, "rows_read": report.rows_changed()}
