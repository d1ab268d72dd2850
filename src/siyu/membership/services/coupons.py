"""Coupons are the marketing app's (`siyu.marketing.services.grant_coupon`, idempotent by key);
membership only asks it to grant them as tier, card and referral rewards."""

from __future__ import annotations

import importlib

from siyu.core.access import Actor


def available() -> bool:
    try:
        module = importlib.import_module("siyu.marketing.services")
    except ModuleNotFoundError:
        return False
    return hasattr(module, "grant_coupon")


def grant(customer_id: int, coupon_id: int, *, source: str, key: str, actor: Actor | None = None):
    """Grant a coupon through marketing; returns what it returns, or None when the marketing app
    is not installed (the reward is then recorded without a coupon)."""
    if not available():
        return None
    from siyu.marketing.services import grant_coupon

    return grant_coupon(
        customer_id=customer_id,
        coupon_id=coupon_id,
        source=source,
        idempotency_key=key,
        actor=actor,
    )
