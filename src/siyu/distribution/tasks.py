"""Settlement: frozen commissions become withdrawable once the after-sales window has closed.

A periodic job (enqueued once per 10-minute slot, stored in the task queue, so it survives
restarts) settles whatever is due; a commission settles at most once because its ledger key and
its status both say so.
"""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from siyu.core.schedule import periodic


@periodic("distribution.settle_commissions", every=timedelta(minutes=10))
@task()
def settle_commissions() -> int:
    from .services import settle_due

    total = 0
    while True:
        n = settle_due(limit=1000)
        total += n
        if n < 1000:
            return total
