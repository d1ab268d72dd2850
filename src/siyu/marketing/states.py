"""The customer coupon's life: available → used → (back to available when the order is cancelled,
or refunded under a returning rule); available → expired or revoked."""

from __future__ import annotations

from siyu.core.access import Actor
from siyu.core.states import transition

from .models import CustomerCoupon, CustomerCouponChange
from .models import CustomerCouponStatus as S

TABLE = {
    S.AVAILABLE: frozenset({S.USED, S.EXPIRED, S.REVOKED}),
    S.USED: frozenset({S.AVAILABLE, S.EXPIRED}),
    S.EXPIRED: frozenset(),
    S.REVOKED: frozenset(),
}


def transition_coupon(
    held: CustomerCoupon,
    target: str,
    *,
    actor: Actor,
    note: str = "",
    update_fields: tuple[str, ...] = (),
) -> None:
    transition(
        held,
        target,
        table=TABLE,
        history=CustomerCouponChange,
        subject_field="customer_coupon",
        actor=actor,
        note=note,
        update_fields=update_fields,
    )
