"""Periodic jobs (nightly scoring, payment reconciliation, settlement) on top of the task queue.

Django's task API has no clock, so `siyu worker` runs a small scheduler beside the worker: every
`tick()` it enqueues each job whose current slot has not been enqueued yet. A slot is a period
label ("2026-11-23" for a daily job, "2026-11-23T10:15" for a 15-minute one); the unique
(job, slot) row makes enqueuing exactly-once even with several schedulers running.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: object  # a django_tasks Task
    every: timedelta
    # for daily jobs: the local (Asia/Shanghai) time of day to start, e.g. "03:00"
    at: str | None = None

    def slot(self, now: datetime) -> str | None:
        """The label of the period `now` falls in, or None if a daily job is not due yet today."""
        local = timezone.localtime(now)
        if self.at:
            hour, minute = (int(x) for x in self.at.split(":"))
            if (local.hour, local.minute) < (hour, minute):
                return None
            return local.strftime("%Y-%m-%d")
        seconds = int(self.every.total_seconds())
        epoch = int(now.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % seconds, tz=local.tzinfo)
        return start.strftime("%Y-%m-%dT%H:%M")


_jobs: dict[str, PeriodicJob] = {}


def periodic(name: str, *, every: timedelta = timedelta(days=1), at: str | None = None):
    """Decorator for a django_tasks task: enqueue it once per period."""

    def register(task):
        _jobs[name] = PeriodicJob(name=name, task=task, every=every, at=at)
        return task

    return register


def jobs() -> list[PeriodicJob]:
    return sorted(_jobs.values(), key=lambda j: j.name)


def tick(now: datetime | None = None) -> list[str]:
    """Enqueue every due job whose slot is new; return the names enqueued."""
    from .models import PeriodicRun

    now = now or timezone.now()
    enqueued = []
    for job in jobs():
        slot = job.slot(now)
        if slot is None:
            continue
        try:
            with transaction.atomic():
                run = PeriodicRun.objects.create(job=job.name, slot=slot)
                result = job.task.enqueue()
                run.task_id = str(getattr(result, "id", ""))[:64]
                run.save(update_fields=["task_id"])
        except IntegrityError:
            continue  # another scheduler (or an earlier tick) took this slot
        log.info("scheduled %s for slot %s", job.name, slot)
        enqueued.append(job.name)
    return enqueued
