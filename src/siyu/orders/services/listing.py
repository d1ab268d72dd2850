"""Finding orders: the one filter the console list, the API and exports share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from siyu.core import crypto
from siyu.core.access import Actor
from siyu.customers.identity import identity_hash
from siyu.customers.models import Identity, IdentityKind

from ..models import Order
from .common import orders_visible_to

_DIGITS = re.compile(r"^\d+$")


@dataclass
class OrderFilters:
    q: str = ""  # order number, platform order id, or the buyer's phone
    status: str = ""
    channel: str = ""
    platform: str = ""
    delivery_method: str = ""
    store_id: int | None = None
    customer_id: int | None = None
    placed_from: date | None = None
    placed_to: date | None = None

    @classmethod
    def from_params(cls, params: Mapping) -> OrderFilters:
        def text(name: str) -> str:
            return str(params.get(name) or "").strip()

        def as_int(name: str) -> int | None:
            raw = text(name)
            return int(raw) if _DIGITS.match(raw) else None

        def as_date(name: str) -> date | None:
            raw = text(name)
            try:
                return date.fromisoformat(raw) if raw else None
            except ValueError:
                return None

        return cls(
            q=text("q"),
            status=text("status"),
            channel=text("channel"),
            platform=text("platform"),
            delivery_method=text("delivery_method"),
            store_id=as_int("store_id"),
            customer_id=as_int("customer_id"),
            placed_from=as_date("placed_from"),
            placed_to=as_date("placed_to"),
        )

    def as_params(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in (None, ""):
                out[f.name] = value.isoformat() if isinstance(value, date) else value
        return out


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def filter_orders(actor: Actor, filters: OrderFilters) -> QuerySet[Order]:
    """The actor's orders narrowed by `filters` (unordered; callers page by id)."""
    qs = orders_visible_to(actor)
    if filters.status:
        statuses = [s for s in filters.status.split(",") if s]
        qs = qs.filter(status__in=statuses)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.platform:
        qs = qs.filter(platform=filters.platform)
    if filters.delivery_method:
        qs = qs.filter(delivery_method=filters.delivery_method)
    if filters.store_id:
        qs = qs.filter(store_id=filters.store_id)
    if filters.customer_id:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.placed_from:
        qs = qs.filter(placed_at__gte=_local_midnight(filters.placed_from))
    if filters.placed_to:
        qs = qs.filter(placed_at__lt=_local_midnight(filters.placed_to + timedelta(days=1)))
    if filters.q:
        qs = _search(qs, filters.q)
    return qs


def _search(qs: QuerySet[Order], q: str) -> QuerySet[Order]:
    compact = q.replace(" ", "").replace("-", "")
    phone = crypto.normalize_phone(compact) if _DIGITS.match(compact.lstrip("+")) else None
    match = Q(number=q) | Q(external_id=q)
    if phone:
        buyers = Identity.objects.filter(
            kind=IdentityKind.PHONE, value_hash=identity_hash(IdentityKind.PHONE, phone)
        ).values("customer_id")
        match |= Q(customer_id__in=buyers)
    return qs.filter(match)
