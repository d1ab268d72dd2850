"""Group buying (拼团): set up activities, open and join groups, and the group's whole life —
opening when the initiator pays, success at the N-th payment, failure and refunds when time runs
out, members leaving before success.

Locks, always in this order: order (held by the orders/payments transaction that publishes the
event) → group → member. Joining locks the group and then places the order (whose stock rows are
locked last), so nothing that holds a stock row may wait for a group: that is why a cancelled
order frees its seat after its transaction commits (`order_cancelled`), with a sweep behind it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.catalog.models import ProductStatus, Sku
from siyu.core import audit, events
from siyu.core.access import Actor, authorize
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.orders import services as orders
from siyu.orders.errors import IdempotencyKeyReused, OrderNotPayable
from siyu.orders.models import Channel

from .errors import ActivityNotLive, AlreadyInGroup, GroupBuyLimitReached, GroupClosed, GroupFull
from .events import GroupFailed, GroupOpened, GroupSucceeded
from .models import (
    MAX_GROUP_SIZE,
    MAX_TIME_LIMIT_HOURS,
    MIN_GROUP_SIZE,
    SEAT_HOLDING,
    Activity,
    ActivityItem,
    ActivityStatus,
    Group,
    GroupStatus,
    Member,
    MemberStatus,
)
from .states import transition_group, transition_member

log = logging.getLogger(__name__)

SYSTEM = Actor.system("group-buy")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_UNITS_PER_MEMBER = 10
# A join needs time left to pay (the payment provider refuses a deadline under a minute away).
JOIN_CUTOFF = timedelta(minutes=2)


def system_actor(label: str = "group-buy") -> Actor:
    return Actor.system(label)


# --- activities (console) ---------------------------------------------------------------------


@dataclass
class ActivityInput:
    title: str
    group_size: int
    time_limit_hours: int
    starts_at: datetime | None
    ends_at: datetime | None
    items: list[tuple[int, int]]  # (sku_id, group_price_fen)
    per_customer_limit: int | None = None
    description: str = ""


def _validate_activity(data: ActivityInput) -> dict[int, Sku]:
    errors: dict[str, str] = {}
    if not (data.title or "").strip():
        errors["title"] = _("This field is required.")
    if not isinstance(data.group_size, int) or not (
        MIN_GROUP_SIZE <= data.group_size <= MAX_GROUP_SIZE
    ):
        errors["group_size"] = _("A group has between %(min)s and %(max)s members.") % {
            "min": MIN_GROUP_SIZE,
            "max": MAX_GROUP_SIZE,
        }
    if not isinstance(data.time_limit_hours, int) or not (
        1 <= data.time_limit_hours <= MAX_TIME_LIMIT_HOURS
    ):
        errors["time_limit_hours"] = _("Between 1 and %(max)s hours.") % {
            "max": MAX_TIME_LIMIT_HOURS
        }
    if data.per_customer_limit is not None and data.per_customer_limit < 1:
        errors["per_customer_limit"] = _("At least 1, or leave it empty for no limit.")
    if data.starts_at is None:
        errors["starts_at"] = _("This field is required.")
    if data.ends_at is None:
        errors["ends_at"] = _("This field is required.")
    elif data.starts_at is not None and data.ends_at <= data.starts_at:
        errors["ends_at"] = _("The end must come after the start.")
    skus: dict[int, Sku] = {}
    if not data.items:
        errors["items"] = _("Add at least one SKU with its group price.")
    else:
        wanted = [sku_id for sku_id, _price in data.items]
        if len(set(wanted)) != len(wanted):
            errors["items"] = _("Each SKU appears once.")
        skus = {s.pk: s for s in Sku.objects.filter(pk__in=wanted).select_related("product")}
        for sku_id, price in data.items:
            sku = skus.get(sku_id)
            key = f"items.{sku_id}"
            if sku is None or not sku.is_active:
                errors[key] = _("No such SKU on sale.")
            elif not isinstance(price, int) or price <= 0:
                errors[key] = _("Enter a group price above zero.")
            elif price >= sku.price_fen:
                errors[key] = _("The group price must be below the price (%(price)s fen).") % {
                    "price": sku.price_fen
                }
    if errors:
        raise ValidationFailed(_("Check the activity."), fields=errors)
    return skus


def create_activity(data: ActivityInput, *, actor: Actor) -> Activity:
    authorize(actor, "groupbuy.manage")
    _validate_activity(data)
    with transaction.atomic():
        activity = Activity.objects.create(
            title=data.title.strip()[:120],
            description=(data.description or "").strip(),
            group_size=data.group_size,
            time_limit_hours=data.time_limit_hours,
            per_customer_limit=data.per_customer_limit,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            created_by=actor.label[:150],
        )
        ActivityItem.objects.bulk_create(
            [
                ActivityItem(activity=activity, sku_id=sku_id, group_price_fen=price)
                for sku_id, price in data.items
            ]
        )
        audit.record(actor, "groupbuy.activity_created", obj=activity, summary=activity.title)
    return activity


def update_activity(activity_id: int, data: ActivityInput, *, actor: Actor) -> Activity:
    """Edit an activity. Groups already opened keep the size and price they were opened with
    (the size is copied to the group, the price to each member's order)."""
    authorize(actor, "groupbuy.manage")
    _validate_activity(data)
    with transaction.atomic():
        activity = Activity.objects.select_for_update().filter(pk=activity_id).first()
        if activity is None:
            raise NotFound(_("No such activity."))
        if activity.status == ActivityStatus.ENDED:
            raise Conflict(_("This activity has ended."), code="activity_ended")
        activity.title = data.title.strip()[:120]
        activity.description = (data.description or "").strip()
        activity.group_size = data.group_size
        activity.time_limit_hours = data.time_limit_hours
        activity.per_customer_limit = data.per_customer_limit
        activity.starts_at = data.starts_at
        activity.ends_at = data.ends_at
        activity.save()
        keep = {sku_id for sku_id, _price in data.items}
        activity.items.exclude(sku_id__in=keep).delete()
        for sku_id, price in data.items:
            ActivityItem.objects.update_or_create(
                activity=activity, sku_id=sku_id, defaults={"group_price_fen": price}
            )
        audit.record(actor, "groupbuy.activity_updated", obj=activity, summary=activity.title)
    return activity


def end_activity(activity_id: int, *, actor: Actor) -> Activity:
    """Stop an activity now: no new groups open. Groups already open run to their own deadline
    (their members paid for that promise), then succeed or fail as usual."""
    authorize(actor, "groupbuy.manage")
    with transaction.atomic():
        activity = Activity.objects.select_for_update().filter(pk=activity_id).first()
        if activity is None:
            raise NotFound(_("No such activity."))
        if activity.status == ActivityStatus.ENDED:
            return activity
        activity.status = ActivityStatus.ENDED
        activity.ended_at = timezone.now()
        activity.save(update_fields=["status", "ended_at", "updated_at"])
        audit.record(actor, "groupbuy.activity_ended", obj=activity, summary=activity.title)
    return activity


# --- opening and joining (shoppers) -----------------------------------------------------------


@dataclass
class Purchase:
    """What a shopper asks for when opening or joining: one SKU of the activity, how many, and
    where it goes (the orders app validates the address and pickup store)."""

    sku_id: int
    quantity: int = 1
    address: orders.Address | None = None
    delivery_method: str = "delivery"
    store_id: int | None = None
    buyer_note: str = ""
    hints: dict = field(default_factory=dict)  # share-link attribution (distribution, clerks)
    idempotency_key: str = ""


@dataclass
class Joined:
    group: Group
    member: Member
    created: bool = True

    @property
    def order_id(self) -> int:
        return self.member.order_id


def _customer_of(actor: Actor) -> int:
    if actor.kind != "customer" or not actor.customer_id:
        raise PermissionDenied(_("Log in to buy together."))
    return actor.customer_id


def _item_for(activity: Activity, sku_id) -> ActivityItem:
    try:
        sku_id = int(sku_id)
    except (TypeError, ValueError):
        sku_id = 0
    item = (
        ActivityItem.objects.filter(activity=activity, sku_id=sku_id)
        .select_related("sku", "sku__product")
        .first()
    )
    if item is None:
        raise ValidationFailed(
            _("Choose one of the activity's items."), fields={"sku_id": _("not in this activity")}
        )
    if not item.sku.is_active or item.sku.product.status != ProductStatus.ON_SHELF:
        raise ValidationFailed(
            _("This item is no longer on sale."), fields={"sku_id": _("not on sale")}
        )
    return item


def _check_quantity(activity: Activity, customer_id: int, quantity) -> int:
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        quantity = 0
    if not 1 <= quantity <= MAX_UNITS_PER_MEMBER:
        raise ValidationFailed(
            _("Choose between 1 and %(n)s.") % {"n": MAX_UNITS_PER_MEMBER},
            fields={"quantity": _("out of range")},
        )
    if activity.per_customer_limit:
        bought = (
            Member.objects.filter(
                activity=activity,
                customer_id=customer_id,
                status__in=[*SEAT_HOLDING, MemberStatus.SUCCEEDED],
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        if bought + quantity > activity.per_customer_limit:
            raise GroupBuyLimitReached(
                _("You can buy at most %(n)s through this group buy.")
                % {"n": activity.per_customer_limit},
                fields={"quantity": _("over the limit")},
            )
    return quantity


def _check_not_in_group(activity: Activity, customer_id: int) -> None:
    if Member.objects.filter(
        activity=activity, customer_id=customer_id, status__in=SEAT_HOLDING
    ).exists():
        raise AlreadyInGroup(
            _("You are already in a group of this activity: finish or leave it first.")
        )


def _replayed(customer_id: int, key: str, group_id: int | None, activity_id: int):
    """The membership an Idempotency-Key already created, or None."""
    if not key:
        return None
    member = (
        Member.objects.filter(customer_id=customer_id, order__idempotency_key=key)
        .select_related("group")
        .first()
    )
    if member is None:
        return None
    if member.activity_id != activity_id or (group_id is not None and member.group_id != group_id):
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was already used for a different order."),
            fields={"idempotency_key": key},
        )
    return Joined(member.group, member, created=False)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


def _place(
    group: Group,
    activity: Activity,
    customer_id: int,
    purchase: Purchase,
    quantity: int,
    *,
    initiator: bool,
) -> Member:
    """Place the member's order (group price, channel group_buy, held until success) and add
    the member, inside the caller's transaction that holds the group."""
    checkout = orders.Checkout(
        items=[(purchase.sku_id, quantity)],
        delivery_method=purchase.delivery_method,
        store_id=purchase.store_id,
        address=purchase.address,
        buyer_note=purchase.buyer_note,
        channel=Channel.GROUP_BUY,
        context={"group_buy_activity": activity.pk},
        hints=dict(purchase.hints or {}),
        fulfilment_hold=group.hold,
        pay_before=None if initiator else group.expires_at,
    )
    placed = orders.place_order(
        SYSTEM,
        checkout,
        customer_id=customer_id,
        idempotency_key=(purchase.idempotency_key or "").strip()[:64],
    )
    order = placed.order
    member = Member.objects.create(
        group=group,
        activity=activity,
        customer_id=customer_id,
        order=order,
        sku_id=int(purchase.sku_id),
        quantity=quantity,
        is_initiator=initiator,
        goods_fen=order.goods_amount_fen - order.discount_fen,
    )
    transition_member_creation(member)
    return member


def transition_member_creation(member: Member) -> None:
    from .models import MemberStatusChange

    MemberStatusChange.objects.create(
        member=member,
        from_status="",
        to_status=member.status,
        actor_kind="customer",
        actor_id=member.customer_id,
        actor_label=f"customer:{member.customer_id}",
        note=_("Opened the group") if member.is_initiator else _("Joined the group"),
    )


def open_group(actor: Actor, activity_id: int, purchase: Purchase) -> Joined:
    """Open a group: the initiator's order is placed now; the group opens (and its clock starts)
    when that order is paid. One live group per customer per activity."""
    customer_id = _customer_of(actor)
    activity = Activity.objects.filter(pk=activity_id).first()
    if activity is None:
        raise NotFound(_("No such group buy."))
    key = (purchase.idempotency_key or "").strip()[:64]
    if (found := _replayed(customer_id, key, None, activity.pk)) is not None:
        return found
    if not activity.is_live():
        raise ActivityNotLive(_("This group buy is not running now."))
    _item_for(activity, purchase.sku_id)
    quantity = _check_quantity(activity, customer_id, purchase.quantity)
    _check_not_in_group(activity, customer_id)
    try:
        with transaction.atomic():
            group = Group.objects.create(
                activity=activity,
                code=_new_code(),
                initiator_id=customer_id,
                size=activity.group_size,
                seats_taken=1,
            )
            from .models import GroupStatusChange

            GroupStatusChange.objects.create(
                group=group,
                from_status="",
                to_status=group.status,
                actor_kind=actor.kind,
                actor_id=customer_id,
                actor_label=actor.label[:150],
                note=_("Group started; waiting for the initiator to pay"),
            )
            member = _place(group, activity, customer_id, purchase, quantity, initiator=True)
    except IntegrityError:
        if (found := _replayed(customer_id, key, None, activity.pk)) is not None:
            return found
        raise AlreadyInGroup(
            _("You are already in a group of this activity: finish or leave it first.")
        )
    return Joined(group, member)


def join_group(actor: Actor, code: str, purchase: Purchase) -> Joined:
    """Take a seat in an open group through its share link: the order is placed at the group
    price; the seat is held until it is paid (or the order times out)."""
    customer_id = _customer_of(actor)
    found = Group.objects.filter(code=(code or "").strip().upper()).select_related("activity")
    group = found.first()
    if group is None:
        raise NotFound(_("No such group."))
    activity = group.activity
    key = (purchase.idempotency_key or "").strip()[:64]
    if (replay := _replayed(customer_id, key, group.pk, activity.pk)) is not None:
        return replay
    _item_for(activity, purchase.sku_id)
    quantity = _check_quantity(activity, customer_id, purchase.quantity)
    _check_not_in_group(activity, customer_id)
    try:
        with transaction.atomic():
            group = Group.objects.select_for_update().get(pk=group.pk)
            now = timezone.now()
            if group.status != GroupStatus.OPEN or group.expires_at - JOIN_CUTOFF <= now:
                raise GroupClosed(_("This group is no longer open. Open a group of your own!"))
            if group.seats_taken >= group.size:
                raise GroupFull(
                    _("Every seat in this group is taken. Try again in a while, or open your own.")
                )
            member = _place(group, activity, customer_id, purchase, quantity, initiator=False)
            group.seats_taken = F("seats_taken") + 1
            group.save(update_fields=["seats_taken"])
            group.refresh_from_db(fields=["seats_taken"])
    except IntegrityError:
        if (replay := _replayed(customer_id, key, group.pk, activity.pk)) is not None:
            return replay
        raise AlreadyInGroup(
            _("You are already in a group of this activity: finish or leave it first.")
        )
    return Joined(group, member)


def leave_group(member_id: int, *, actor: Actor) -> Member:
    """A paid member leaves before the group succeeds: the order is refunded in full and the
    seat reopens (the group goes on, even when the initiator leaves). An unpaid member simply
    cancels the order."""
    customer_id = _customer_of(actor)
    member = Member.objects.filter(pk=member_id, customer_id=customer_id).first()
    if member is None:
        raise NotFound(_("Not found."))
    if member.status == MemberStatus.PENDING_PAYMENT:
        orders.cancel_order(member.order_id, actor=actor, reason=_("Left the group"))
        order_cancelled(member.order_id)
    elif member.status == MemberStatus.PAID:
        group = Group.objects.get(pk=member.group_id)
        if group.status != GroupStatus.OPEN:
            raise GroupClosed(_("This group is no longer open."))
        orders.refund_order(
            member.order_id,
            actor=SYSTEM,
            reason="not_wanted",
            note=_("Left group %(code)s before it filled") % {"code": group.code},
        )
    else:
        raise Conflict(_("You are no longer in this group."), code="not_in_group")
    member.refresh_from_db()
    return member


# --- what orders and payments tell us (handlers.py) -------------------------------------------


def _locked_member_of_order(order_id: int) -> tuple[Group, Member] | None:
    row = Member.objects.filter(order_id=order_id).values_list("pk", "group_id").first()
    if row is None:
        return None
    group = Group.objects.select_for_update().select_related("activity").get(pk=row[1])
    member = Member.objects.select_for_update().get(pk=row[0])
    return group, member


def order_paid(order_id: int, paid_fen: int, *, now: datetime | None = None) -> None:
    """In the payment's transaction (order locked): the member pays. The initiator's payment opens
    the group; the N-th payment makes it succeed, exactly once (the group row is locked). Money
    for a group that is no longer open is refused with OrderNotPayable, so payments refunds it."""
    found = _locked_member_of_order(order_id)
    if found is None:
        return
    group, member = found
    if member.status != MemberStatus.PENDING_PAYMENT:
        return
    now = now or timezone.now()
    activity = group.activity
    if group.status == GroupStatus.AWAITING_PAYMENT:
        if not activity.is_live(now):
            raise OrderNotPayable(
                _("The group buy ended before the group opened."),
                fields={"reason": "group_closed"},
            )
    elif group.status != GroupStatus.OPEN or group.expires_at <= now:
        raise OrderNotPayable(
            _("Group %(code)s closed before the payment arrived.") % {"code": group.code},
            fields={"reason": "group_closed"},
        )
    member.paid_at, member.paid_fen = now, paid_fen
    transition_member(
        member, MemberStatus.PAID, actor=SYSTEM, update_fields=("paid_at", "paid_fen")
    )
    group.paid_count += 1
    if group.status == GroupStatus.AWAITING_PAYMENT:
        group.opened_at = now
        group.expires_at = min(now + timedelta(hours=activity.time_limit_hours), activity.ends_at)
        transition_group(
            group,
            GroupStatus.OPEN,
            actor=SYSTEM,
            note=_("The initiator paid"),
            update_fields=("opened_at", "expires_at", "paid_count"),
        )
        from .tasks import schedule_expiry

        schedule_expiry(group)
        events.publish(GroupOpened(group.pk, activity.pk, group.initiator_id))
    elif group.paid_count >= group.size:
        _succeed(group, now=now)
    else:
        group.save(update_fields=["paid_count"])


def _succeed(group: Group, *, now: datetime) -> None:
    group.succeeded_at = now
    transition_group(
        group,
        GroupStatus.SUCCEEDED,
        actor=SYSTEM,
        note=_("%(n)s of %(n)s members paid") % {"n": group.size},
        update_fields=("succeeded_at", "paid_count"),
    )
    paid = list(
        Member.objects.select_for_update()
        .filter(group=group, status=MemberStatus.PAID)
        .order_by("pk")
    )
    for m in paid:
        transition_member(m, MemberStatus.SUCCEEDED, actor=SYSTEM, note=_("The group succeeded"))
    events.publish(GroupSucceeded(group.pk, group.activity_id, sum(m.paid_fen for m in paid)))
    from .tasks import schedule_release

    schedule_release(group)


def order_cancelled(order_id: int) -> bool:
    """After an unpaid member order was cancelled (timeout, the shopper, the group failing): the
    member leaves and the seat reopens. Idempotent; also run by the sweep."""
    with transaction.atomic():
        found = _locked_member_of_order(order_id)
        if found is None:
            return False
        group, member = found
        if member.status != MemberStatus.PENDING_PAYMENT:
            return False
        from siyu.orders.models import Order, OrderStatus

        # orders' own row says whether it is really cancelled (the sweep asks for any order)
        if not Order.objects.filter(pk=order_id, status=OrderStatus.CANCELLED).exists():
            return False
        member.left_at = timezone.now()
        transition_member(
            member, MemberStatus.CANCELLED, actor=SYSTEM, note=_("Order cancelled before payment")
        )
        group.seats_taken = F("seats_taken") - 1
        group.save(update_fields=["seats_taken"])
        if member.is_initiator and group.status == GroupStatus.AWAITING_PAYMENT:
            transition_group(
                group, GroupStatus.ABANDONED, actor=SYSTEM, note=_("The initiator did not pay")
            )
    return True


def refund_requested(order_id: int, refund_key: str, amount_fen: int) -> None:
    """In the refund's transaction (order locked): a paid member whose goods are refunded in full
    leaves the group — by choice before success (the seat reopens) or because the group failed.
    The refund is tracked by its key until payments confirms it. A partial refund, or a refund
    after success, is ordinary after-sales and leaves the group alone."""
    found = _locked_member_of_order(order_id)
    if found is None:
        return
    group, member = found
    if member.status != MemberStatus.PAID or amount_fen < member.goods_fen:
        return
    member.refund_key = refund_key[:64]
    member.left_at = timezone.now()
    why = _("The group failed") if group.status == GroupStatus.FAILED else _("Left before success")
    transition_member(
        member,
        MemberStatus.REFUNDING,
        actor=SYSTEM,
        note=f"{why} ({refund_key})",
        update_fields=("refund_key", "left_at"),
    )
    group.paid_count = F("paid_count") - 1
    group.seats_taken = F("seats_taken") - 1
    group.save(update_fields=["paid_count", "seats_taken"])


def refund_confirmed(order_id: int, refund_key: str) -> None:
    """The provider confirmed a member's refund: the member is refunded (once)."""
    member = (
        Member.objects.select_for_update()
        .filter(order_id=order_id, refund_key=refund_key, status=MemberStatus.REFUNDING)
        .first()
    )
    if member is None:
        return
    member.refunded_at = timezone.now()
    transition_member(
        member, MemberStatus.REFUNDED, actor=SYSTEM, note=refund_key, update_fields=("refunded_at",)
    )


# --- the clock: failure, refunds, release --------------------------------------------------------


def expire_group(group_id: int, *, now: datetime | None = None) -> bool:
    """Fail a group whose time ran out short of N, then refund its paid members and cancel its
    unpaid orders. Idempotent: a group not yet due, or already decided, is left alone (its
    members are still unwound, which is what a retried task needs)."""
    now = now or timezone.now()
    failed = False
    with transaction.atomic():
        group = Group.objects.select_for_update().filter(pk=group_id).first()
        if group is None:
            return False
        if group.status == GroupStatus.OPEN and group.expires_at <= now:
            group.failed_at = now
            transition_group(
                group,
                GroupStatus.FAILED,
                actor=system_actor("group-buy timeout"),
                note=_("Time ran out with %(paid)s of %(size)s paid")
                % {"paid": group.paid_count, "size": group.size},
                update_fields=("failed_at",),
            )
            events.publish(GroupFailed(group.pk, group.activity_id, group.paid_count))
            failed = True
    if group.status in (GroupStatus.FAILED, GroupStatus.ABANDONED):
        unwind_members(group.pk)
    return failed


def unwind_members(group_id: int) -> dict:
    """Every member of a failed group gets their money back: paid orders are refunded in full
    (one after-sales refund per order; orders refuses a second), unpaid ones cancelled. Each in
    its own transaction, so one bad order does not hold up the rest; a retry picks up the rest."""
    result = {"refunded": 0, "cancelled": 0, "errors": 0}
    members = list(
        Member.objects.filter(group_id=group_id, status__in=SEAT_HOLDING)
        .order_by("pk")
        .values_list("pk", "order_id", "status")
    )
    code = Group.objects.filter(pk=group_id).values_list("code", flat=True).first()
    for _pk, order_id, status in members:
        try:
            if status == MemberStatus.PAID:
                orders.refund_order(
                    order_id,
                    actor=SYSTEM,
                    reason="merchant",
                    note=_("Group %(code)s did not fill in time") % {"code": code},
                )
                result["refunded"] += 1
            else:
                # already cancelled (timeout), or paid meanwhile (refused, then refunded)
                with contextlib.suppress(Conflict):
                    orders.cancel_order(
                        order_id, actor=SYSTEM, reason=_("The group did not fill in time")
                    )
                if order_cancelled(order_id):
                    result["cancelled"] += 1
        except DomainError as exc:
            result["errors"] += 1
            log.warning("group %s: could not unwind order %s: %s", group_id, order_id, exc)
    return result


def release_group(group_id: int) -> int:
    """A group succeeded: its members' orders may ship. Idempotent per order."""
    group = Group.objects.filter(pk=group_id, status=GroupStatus.SUCCEEDED).first()
    if group is None:
        return 0
    released = 0
    for member in Member.objects.filter(group=group, released_at__isnull=True).order_by("pk"):
        orders.release_fulfilment_hold(member.order_id, hold=group.hold, actor=SYSTEM)
        Member.objects.filter(pk=member.pk, released_at__isnull=True).update(
            released_at=timezone.now()
        )
        released += 1
    return released


def sweep(*, now: datetime | None = None, limit: int = 500) -> dict:
    """The safety net behind the per-group tasks: fail overdue groups, finish unwinding failed
    ones, release succeeded ones, free seats of cancelled orders, retry failed refunds."""
    from siyu.orders.models import Order, OrderStatus

    now = now or timezone.now()
    out = {"failed": 0, "unwound": 0, "released": 0, "seats_freed": 0, "refunds_retried": 0}
    overdue = Group.objects.filter(status=GroupStatus.OPEN, expires_at__lte=now).values_list(
        "pk", flat=True
    )[:limit]
    for pk in list(overdue):
        out["failed"] += int(expire_group(pk, now=now))
    stuck = (
        Member.objects.filter(
            status__in=SEAT_HOLDING,
            group__status__in=[GroupStatus.FAILED, GroupStatus.ABANDONED],
        )
        .values_list("group_id", flat=True)
        .distinct()[:limit]
    )
    for pk in list(stuck):
        unwind_members(pk)
        out["unwound"] += 1
    grace = now - timedelta(seconds=settings.SIYU_GROUPBUY_RELEASE_GRACE_SECONDS)
    unreleased = (
        Member.objects.filter(
            group__status=GroupStatus.SUCCEEDED,
            released_at__isnull=True,
            group__succeeded_at__lte=grace,
        )
        .values_list("group_id", flat=True)
        .distinct()[:limit]
    )
    for pk in list(unreleased):
        out["released"] += release_group(pk)
    cancelled = Member.objects.filter(
        status=MemberStatus.PENDING_PAYMENT,
        order__in=Order.objects.filter(status=OrderStatus.CANCELLED),
    ).values_list("order_id", flat=True)[:limit]
    for order_id in list(cancelled):
        out["seats_freed"] += int(order_cancelled(order_id))
    out["refunds_retried"] = _retry_failed_refunds(limit)
    return out


def _retry_failed_refunds(limit: int) -> int:
    """Refunds the provider turned down (a closed card, a momentary error) are asked for again
    under the same key until confirmed."""
    from siyu.orders.models import AfterSale, AfterSaleStatus

    keys = Member.objects.filter(status=MemberStatus.REFUNDING).values_list("refund_key", flat=True)
    retried = 0
    for case_id in AfterSale.objects.filter(
        refund_key__in=keys, status=AfterSaleStatus.REFUND_FAILED
    ).values_list("pk", flat=True)[:limit]:
        try:
            orders.retry_refund(case_id, actor=SYSTEM)
            retried += 1
        except DomainError as exc:
            log.warning("group-buy refund %s not retried: %s", case_id, exc)
    return retried
