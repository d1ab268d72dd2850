"""Background work for orders: the unpaid-order timeout (one persisted task per order, run at its
payment deadline) and periodic sweeps that catch anything a lost task would have missed."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from siyu.core.schedule import periodic

from .models import Order, OrderStatus

log = logging.getLogger(__name__)


@task()
def expire_unpaid_order(order_id: int) -> bool:
    """Cancel an order still unpaid at its deadline and release its stock (idempotent)."""
    from .services import expire_order

    return expire_order(order_id)


def schedule_unpaid_timeout(order: Order) -> None:
    """Enqueue the timeout with run_after = the payment deadline. Called inside the placement
    transaction: with the database task queue the task row commits (or not) with the order, so
    it survives restarts. Backends that cannot defer rely on the sweep below."""
    deferred = expire_unpaid_order.using(run_after=order.payment_deadline)
    if not deferred.get_backend().supports_defer:
        return
    deferred.enqueue(order.pk)


@periodic("orders.expire_overdue", every=timedelta(minutes=5))
@task()
def expire_overdue_orders(limit: int = 1000) -> int:
    """Cancel every pending order past its deadline: a safety net for timeout tasks that were
    lost (Redis flushed) or died mid-run (a killed worker leaves its task marked running)."""
    from .services import expire_order

    now = timezone.now()
    ids = list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, payment_deadline__lte=now)
        .order_by("payment_deadline", "id")
        .values_list("pk", flat=True)[:limit]
    )
    cancelled = sum(1 for pk in ids if expire_order(pk, now=now))
    if cancelled:
        log.info("expired %s unpaid orders", cancelled)
    return cancelled


@periodic("orders.advance", every=timedelta(hours=1))
@task()
def advance_orders() -> dict:
    """Confirm receipt of orders whose confirmation period ran out; close orders whose
    after-sales window ended."""
    from .services import auto_confirm_due, close_due

    return {"completed": auto_confirm_due(), "closed": close_due()}
