"""Read models for pages and the API: a group as shoppers see it, a shopper's groups, and the
figures per activity (success rate, GMV)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from .models import (
    Activity,
    ActivityItem,
    ActivityStatus,
    Group,
    GroupStatus,
    Member,
    MemberStatus,
)

VISIBLE_MEMBER_STATUSES = (
    MemberStatus.PENDING_PAYMENT,
    MemberStatus.PAID,
    MemberStatus.SUCCEEDED,
)


def masked_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        return "***"
    return name[0] + "*" * min(2, max(1, len(name) - 1))


def live_activities(now=None):
    now = now or timezone.now()
    return (
        Activity.objects.filter(status=ActivityStatus.ACTIVE, starts_at__lte=now, ends_at__gt=now)
        .prefetch_related("items__sku__product")
        .order_by("ends_at", "id")
    )


def members_of(group: Group) -> list[Member]:
    """Who is in the group now: paid members first, then seats held by unpaid orders."""
    return list(
        Member.objects.filter(group=group, status__in=VISIBLE_MEMBER_STATUSES)
        .select_related("customer")
        .order_by("paid_at", "joined_at", "id")
    )


def my_groups(customer_id: int, *, limit: int = 20) -> list[Member]:
    return list(
        Member.objects.filter(customer_id=customer_id)
        .select_related("group", "activity", "sku", "sku__product")
        .order_by("-joined_at", "-id")[:limit]
    )


@dataclass
class ActivityFigures:
    activity: Activity
    groups: int
    open: int
    succeeded: int
    failed: int
    gmv_fen: int
    members_paid: int

    @property
    def decided(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> float | None:
        """Share of decided groups (succeeded or failed) that succeeded."""
        return self.succeeded / self.decided if self.decided else None


def activity_figures(activities) -> list[ActivityFigures]:
    """Groups by outcome and GMV (what members of successful groups paid) per activity, in two
    grouped queries."""
    ids = [a.pk for a in activities]
    groups = {
        row["activity_id"]: row
        for row in Group.objects.filter(activity_id__in=ids)
        .values("activity_id")
        .annotate(
            total=Count("id", filter=~Q(status=GroupStatus.ABANDONED)),
            open=Count("id", filter=Q(status=GroupStatus.OPEN)),
            succeeded=Count("id", filter=Q(status=GroupStatus.SUCCEEDED)),
            failed=Count("id", filter=Q(status=GroupStatus.FAILED)),
        )
    }
    money = {
        row["activity_id"]: row
        for row in Member.objects.filter(activity_id__in=ids, status=MemberStatus.SUCCEEDED)
        .values("activity_id")
        .annotate(gmv=Sum("paid_fen"), n=Count("id"))
    }
    out = []
    for a in activities:
        g = groups.get(a.pk, {})
        m = money.get(a.pk, {})
        out.append(
            ActivityFigures(
                activity=a,
                groups=g.get("total", 0),
                open=g.get("open", 0),
                succeeded=g.get("succeeded", 0),
                failed=g.get("failed", 0),
                gmv_fen=m.get("gmv") or 0,
                members_paid=m.get("n") or 0,
            )
        )
    return out


def offers_for_product(product_id: int, now=None) -> list[dict]:
    """Running group buys with a SKU of this product: the lowest group price and how many groups
    are open to join, for the product page."""
    now = now or timezone.now()
    rows = (
        ActivityItem.objects.filter(
            sku__product_id=product_id,
            activity__status=ActivityStatus.ACTIVE,
            activity__starts_at__lte=now,
            activity__ends_at__gt=now,
        )
        .values("activity_id", "activity__title", "activity__group_size")
        .annotate(price=Min("group_price_fen"))
        .order_by("price")
    )
    open_counts = dict(
        Group.objects.filter(
            activity_id__in=[r["activity_id"] for r in rows],
            status=GroupStatus.OPEN,
            expires_at__gt=now,
        )
        .values("activity_id")
        .annotate(n=Count("id"))
        .values_list("activity_id", "n")
    )
    return [
        {
            "activity_id": r["activity_id"],
            "title": r["activity__title"],
            "group_size": r["activity__group_size"],
            "group_price_fen": r["price"],
            "open_groups": open_counts.get(r["activity_id"], 0),
        }
        for r in rows
    ]
