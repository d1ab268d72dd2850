"""What every order service shares: who may see which orders, locking, numbering."""

from __future__ import annotations

import secrets

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.access import Actor, Role, authorize
from siyu.core.errors import NotFound, PermissionDenied

from ..models import Order


def new_number(prefix: str = "") -> str:
    """A unique-enough, unguessable order number: local date + 12 random digits (a clash is
    caught by the unique constraint and retried)."""
    return f"{prefix}{timezone.localtime():%y%m%d}{secrets.randbelow(10**12):012d}"


def orders_visible_to(actor: Actor) -> QuerySet[Order]:
    """Row scope: a shopper sees their own orders; staff-wide roles see all; a store manager the
    orders of their store (placed there, credited to its clerks, or of its customers); a clerk the
    orders credited to them or of the customers they own."""
    qs = Order.objects.all()
    if actor.kind == "customer":
        return qs.filter(customer_id=actor.customer_id)
    if actor.is_system:
        return qs
    authorize(actor, "orders.view")
    if actor.sees_all_stores:
        return qs
    if actor.role == Role.STORE_MANAGER and actor.store_id:
        return qs.filter(
            Q(store_id=actor.store_id)
            | Q(credited_user__store_id=actor.store_id)
            | Q(customer__store_id=actor.store_id)
        )
    if actor.role == Role.CLERK and actor.user_id:
        return qs.filter(
            Q(credited_user_id=actor.user_id) | Q(customer__owner_user_id=actor.user_id)
        )
    return qs.none()


def check_order_access(actor: Actor, order: Order, perm: str | None = None) -> None:
    """Shoppers may act on their own orders only (others look absent); staff need `perm` and the
    order in their scope; the system may do anything."""
    if actor.is_system:
        return
    if actor.kind == "customer":
        if order.customer_id != actor.customer_id:
            raise NotFound(_("Not found."))
        return
    if actor.kind != "staff":
        raise PermissionDenied(_("Log in first."))
    if perm:
        authorize(actor, perm)
    if not actor.sees_all_stores and not orders_visible_to(actor).filter(pk=order.pk).exists():
        raise NotFound(_("Not found."))


def lock_order(order_id: int) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise NotFound(_("Order not found."))
    return order


def visible_order(actor: Actor, order_id: int) -> Order:
    order = orders_visible_to(actor).filter(pk=order_id).first()
    if order is None:
        raise NotFound(_("Order not found."))
    return order
