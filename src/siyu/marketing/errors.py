"""Marketing's domain errors, each with a stable code for the API and pages."""

from __future__ import annotations

from siyu.core.errors import Conflict


class CouponUnavailable(Conflict):
    """This coupon cannot be given out now (not active, not started, or ended)."""

    code = "coupon_unavailable"


class CouponSoldOut(Conflict):
    """Every copy of this coupon has been given out."""

    code = "coupon_sold_out"


class CouponLimitReached(Conflict):
    """This customer already holds as many of this coupon as allowed."""

    code = "coupon_limit_reached"


class CouponGrantKeyReused(Conflict):
    """This idempotency key already granted a different coupon or to a different customer."""

    code = "coupon_key_reused"


class CouponNotUsable(Conflict):
    """The coupon cannot be used on this order."""

    code = "coupon_not_usable"


class SaleNotLive(Conflict):
    """The flash sale has not started, has ended, or was cancelled."""

    code = "sale_not_live"


class SaleSoldOut(Conflict):
    """The flash sale's quota for this item is gone."""

    code = "sale_sold_out"


class SaleLimitReached(Conflict):
    """This customer already bought as many as the flash sale allows."""

    code = "sale_limit_reached"
