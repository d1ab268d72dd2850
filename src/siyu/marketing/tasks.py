"""Periodic marketing jobs: expire coupons past their end; reconcile flash-sale counters in
Redis with the database."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from siyu.core.schedule import periodic

log = logging.getLogger(__name__)


@periodic("marketing.expire_coupons", every=timedelta(hours=1))
@task()
def expire_coupons() -> int:
    from .services import expire_copies

    return expire_copies()


@periodic("marketing.reconcile_flash_sales", every=timedelta(minutes=1))
@task()
def reconcile_flash_sales() -> dict:
    """For every published sale running now or ended within the hour: settle or return stale
    Redis admissions and reset the counters from the database (no-op without Redis)."""
    from . import reservations
    from .models import FlashSale, SaleStatus

    if not reservations.enabled():
        return {}
    now = timezone.now()
    done = {}
    for sale_id in FlashSale.objects.filter(
        status=SaleStatus.PUBLISHED,
        starts_at__lte=now + timedelta(minutes=10),
        ends_at__gte=now - timedelta(hours=1),
    ).values_list("pk", flat=True):
        try:
            done[sale_id] = reservations.reconcile(sale_id)
        except Exception:  # one sale's trouble must not stop the others
            log.exception("reconciling flash sale %s failed", sale_id)
    return done
