"""Coupons are the marketing app's (`siyu.marketing.services.grant_coupon`, idempotent by key);
membership only asks it to grant them as tier, card and referral rewards."""

from __future__ import annotations

import importlib
import logging

from django.db import transaction

from siyu.core.access import Actor
from siyu.core.errors import DomainError

log = logging.getLogger(__name__)


def available() -> bool:
    try:
        module = importlib.import_module("siyu.marketing.services")
    except ModuleNotFoundError:
        return False
    return hasattr(module, "grant_coupon")


def exists(coupon_id: int | None) -> bool:
    """Whether marketing has this coupon (to validate the coupon ids operators type in)."""
    if not coupon_id or not available():
        return False
    from siyu.marketing.models import Coupon

    return Coupon.objects.filter(pk=coupon_id).exists()


def grant(customer_id: int, coupon_id: int, *, source: str, key: str, actor: Actor | None = None):
    """Grant a coupon through marketing (keys are prefixed `membership:`); returns the copy, or
    None when the marketing app is missing or refuses (sold out, limit reached, stopped): the
    refusal is logged and never aborts the order event that asked for the grant."""
    if not available():
        return None
    from siyu.marketing.services import grant_coupon

    try:
        with transaction.atomic():
            return grant_coupon(
                customer_id=customer_id,
                coupon_id=coupon_id,
                source=source,
                idempotency_key=f"membership:{key}",
                actor=actor,
            )
    except DomainError as exc:
        log.warning("coupon %s not granted to %s (%s): %s", coupon_id, customer_id, key, exc.code)
        return None
