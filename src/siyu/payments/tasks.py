"""Background work: sending refunds, closing attempts of cancelled orders, reconciliation, and the
dev provider's notification deliveries. Every task is safe to run twice."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from siyu.core.schedule import periodic

log = logging.getLogger("siyu.payments.tasks")


def enqueue(task_obj, *args, delay: timedelta | None = None):
    """Enqueue now, or after `delay` where the task backend can defer (the database and Redis
    backends can; the immediate backend used by some test runs cannot, and runs it now)."""
    if delay and delay.total_seconds() > 0 and task_obj.get_backend().supports_defer:
        return task_obj.using(run_after=timezone.now() + delay).enqueue(*args)
    return task_obj.enqueue(*args)


@task()
def submit_refund_task(refund_id: int) -> str:
    from .services import submit_refund

    return submit_refund(refund_id).status


@task()
def close_order_payments_task(order_id: int) -> int:
    from .services import close_payments_for_order, system_actor

    return close_payments_for_order(order_id, actor=system_actor("order cancelled"))


@periodic("payments.reconcile", every=timedelta(minutes=5))
@task()
def reconcile_payments() -> dict:
    from .services import reconcile

    return reconcile().as_dict()


@periodic("payments.prune_notifications", at="04:10")
@task()
def prune_notification_log() -> int:
    from .services import prune_notification_log as prune

    return prune()


@task()
def deliver_dev_notification(notification_id: int, attempt: int) -> str:
    from . import devpay

    return devpay.deliver(notification_id, attempt)


@task()
def settle_dev_refund(out_refund_no: str) -> str:
    from . import devpay

    refund = devpay.settle_refund(out_refund_no)
    return refund.status if refund else "missing"
