"""Who is credited with a sale, decided once when the order is placed and never recomputed.

The default credits the customer's current owner (their clerk, leader or distributor). Apps that
bring their own selling channel register a resolver: distribution resolves a share code to the
distributor, group buying credits the group's leader. A resolver gets the customer and the hints
the client sent and returns an `Attribution`, or None to let the next one decide. Hints come from
the shopper, so resolvers validate them (a share code must exist; a clerk must be active).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from siyu.customers.models import Customer

from .models import Channel


@dataclass(frozen=True)
class Attribution:
    channel: str
    credited_kind: str = ""  # clerk / leader / distributor
    credited_id: int | None = None
    credited_user_id: int | None = None  # the clerk's staff account, for clerk credits
    store_id: int | None = None


Resolver = Callable[[Customer, str, dict], Attribution | None]
_resolvers: list[Resolver] = []


def register(resolver: Resolver) -> Resolver:
    if resolver not in _resolvers:
        _resolvers.append(resolver)
    return resolver


def unregister(resolver: Resolver) -> None:
    if resolver in _resolvers:
        _resolvers.remove(resolver)


def resolve(customer: Customer, *, channel: str, hints: dict | None = None) -> Attribution:
    hints = hints or {}
    for resolver in _resolvers:
        found = resolver(customer, channel, hints)
        if found is not None:
            return found
    return Attribution(
        channel=channel,
        credited_kind=customer.owner_kind or "",
        credited_id=customer.owner_id,
        credited_user_id=customer.owner_user_id,
        store_id=customer.store_id,
    )


@register
def clerk_share(customer: Customer, channel: str, hints: dict) -> Attribution | None:
    """A shopper who arrives through a clerk's share link (?staff_ref=<id>) credits that clerk."""
    raw = hints.get("staff_ref")
    if not raw:
        return None
    try:
        user_id = int(raw)
    except (TypeError, ValueError):
        return None
    from siyu.core.access import Role
    from siyu.staff.models import User

    clerk = (
        User.objects.filter(pk=user_id, is_active=True, role=Role.CLERK)
        .values("pk", "store_id")
        .first()
    )
    if clerk is None:
        return None
    return Attribution(
        channel=Channel.CLERK if channel == Channel.MALL else channel,
        credited_kind="clerk",
        credited_id=clerk["pk"],
        credited_user_id=clerk["pk"],
        store_id=clerk["store_id"],
    )
