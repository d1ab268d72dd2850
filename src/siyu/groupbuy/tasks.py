"""Group-buy timers: one persisted task per open group at its deadline (fail and refund), a task
per succeeded group (release its orders for shipping), and a sweep behind both."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django_tasks import task

from siyu.core.schedule import periodic

from .models import Group

log = logging.getLogger(__name__)


@task()
def expire_group_task(group_id: int) -> bool:
    """At the group's deadline: fail it if it is still short of N, refund and cancel its members
    (idempotent: a group that succeeded meanwhile is left alone)."""
    from .services import expire_group

    return expire_group(group_id)


def schedule_expiry(group: Group) -> None:
    """Enqueue the deadline inside the transaction that opens the group: with the database task
    queue it commits with the group, so it survives restarts. Queues that cannot defer rely on
    the sweep."""
    deferred = expire_group_task.using(run_after=group.expires_at)
    if not deferred.get_backend().supports_defer:
        return
    deferred.enqueue(group.pk)


@task()
def release_group_task(group_id: int) -> int:
    """The group succeeded: release its members' orders for shipping (idempotent)."""
    from .services import release_group

    return release_group(group_id)


def schedule_release(group: Group) -> None:
    """Enqueue the release with the success. The database queue commits the task with the
    group (durable); a queue outside the database gets it after the commit, so the worker never
    reads the group before it succeeded. The sweep releases whatever a lost task did not."""
    backend = release_group_task.get_backend()
    if type(backend).__module__.startswith("django_tasks_db"):
        release_group_task.enqueue(group.pk)
    else:
        transaction.on_commit(lambda: release_group_task.enqueue(group.pk))


@periodic("groupbuy.sweep", every=timedelta(minutes=settings.SIYU_GROUPBUY_SWEEP_MINUTES))
@task()
def sweep_groups() -> dict:
    """Catch what a lost or killed task missed: overdue groups, unfinished refunds, unreleased
    orders, seats of cancelled orders, refunds the provider turned down."""
    from .services import sweep

    found = sweep()
    if any(found.values()):
        log.info("group-buy sweep: %s", found)
    return found
