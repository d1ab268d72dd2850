"""Group-buy API: staff endpoints (activities, groups, figures) and shopper endpoints under `shop/`
(activities, a group by its share code, open, join, leave, my groups), authenticated by the H5
shopper session. A member's order is paid like any other: `POST /api/v1/payments/orders/{id}/pay`.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Header, Router, Schema, Status

from siyu.core.access import authorize
from siyu.core.api import ErrorBody, actor
from siyu.core.errors import NotFound, ValidationFailed
from siyu.mall.sessions import ShopperAuth
from siyu.orders.services import Address

from . import queries, services
from .models import Activity, Group, Member

router = Router(tags=["groupbuy"])
shop = Router(tags=["groupbuy (shopper)"], auth=ShopperAuth())

ERRORS = {
    400: ErrorBody,
    401: ErrorBody,
    403: ErrorBody,
    404: ErrorBody,
    409: ErrorBody,
    422: ErrorBody,
}


# --- schemas -------------------------------------------------------------------------------------


class ItemOut(Schema):
    sku_id: int
    product_id: int
    title: str
    spec_text: str
    price_fen: int
    group_price_fen: int


class ActivityOut(Schema):
    id: int
    title: str
    description: str
    group_size: int
    time_limit_hours: int
    per_customer_limit: int | None
    starts_at: datetime
    ends_at: datetime
    status: str
    items: list[ItemOut]


class MemberOut(Schema):
    name: str
    is_initiator: bool
    paid: bool


class GroupOut(Schema):
    code: str
    activity_id: int
    activity_title: str
    status: str
    size: int
    paid_count: int
    seats_left: int
    expires_at: datetime | None
    succeeded_at: datetime | None
    members: list[MemberOut]


class AddressIn(Schema):
    name: str
    phone: str
    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""


class SeatIn(Schema):
    """One SKU of the activity and where it goes (`address` or the mall's saved `address_id`).
    Never a price: the server prices the order at the group price."""

    sku_id: int
    quantity: int = 1
    delivery_method: str = "delivery"
    store_id: int | None = None
    address_id: int | None = None
    address: AddressIn | None = None
    buyer_note: str = ""
    hints: dict[str, str] = {}


class SeatOut(Schema):
    member_id: int
    member_status: str
    order_id: int
    payable_fen: int
    payment_deadline: datetime | None
    group: GroupOut


class StaffGroupOut(Schema):
    id: int
    code: str
    activity_id: int
    status: str
    size: int
    seats_taken: int
    paid_count: int
    initiator_id: int
    created_at: datetime
    opened_at: datetime | None
    expires_at: datetime | None
    succeeded_at: datetime | None
    failed_at: datetime | None


class FiguresOut(Schema):
    activity_id: int
    title: str
    groups: int
    open: int
    succeeded: int
    failed: int
    success_rate: float | None
    gmv_fen: int


class ActivityIn(Schema):
    title: str
    description: str = ""
    group_size: int
    time_limit_hours: int = 24
    per_customer_limit: int | None = None
    starts_at: datetime
    ends_at: datetime
    items: list[dict[str, int]]  # [{"sku_id": 1, "group_price_fen": 9900}]


# --- presenters ----------------------------------------------------------------------------------


def _activity_out(activity: Activity) -> dict:
    return {
        "id": activity.pk,
        "title": activity.title,
        "description": activity.description,
        "group_size": activity.group_size,
        "time_limit_hours": activity.time_limit_hours,
        "per_customer_limit": activity.per_customer_limit,
        "starts_at": activity.starts_at,
        "ends_at": activity.ends_at,
        "status": activity.status,
        "items": [
            {
                "sku_id": item.sku_id,
                "product_id": item.sku.product_id,
                "title": item.sku.product.title,
                "spec_text": item.sku.spec_text,
                "price_fen": item.sku.price_fen,
                "group_price_fen": item.group_price_fen,
            }
            for item in activity.items.all()
        ],
    }


def group_out(group: Group) -> dict:
    return {
        "code": group.code,
        "activity_id": group.activity_id,
        "activity_title": group.activity.title,
        "status": group.status,
        "size": group.size,
        "paid_count": group.paid_count,
        "seats_left": group.seats_left,
        "expires_at": group.expires_at,
        "succeeded_at": group.succeeded_at,
        "members": [
            {
                "name": queries.masked_name(m.customer.name),
                "is_initiator": m.is_initiator,
                "paid": m.status != "pending_payment",
            }
            for m in queries.members_of(group)
        ],
    }


def _seat_out(joined: services.Joined) -> dict:
    order = joined.member.order
    group = Group.objects.select_related("activity").get(pk=joined.group.pk)
    return {
        "member_id": joined.member.pk,
        "member_status": joined.member.status,
        "order_id": order.pk,
        "payable_fen": order.payable_fen,
        "payment_deadline": order.payment_deadline,
        "group": group_out(group),
    }


def _purchase(request, payload: SeatIn, key: str) -> services.Purchase:
    key = (key or "").strip()
    if not key or len(key) > 64:
        raise ValidationFailed(
            _("Send an Idempotency-Key header (at most 64 characters)."),
            code="idempotency_key_required",
            fields={"Idempotency-Key": "required"},
        )
    if payload.address_id is not None:
        from siyu.mall.services import get_address

        saved = get_address(payload.address_id, actor=actor(request))
        address = Address(
            name=saved.receiver_name,
            phone=saved.receiver_phone,
            province=saved.province,
            city=saved.city,
            district=saved.district,
            detail=saved.detail,
        )
    elif payload.address is not None:
        address = Address(**payload.address.dict())
    else:
        address = None
    return services.Purchase(
        sku_id=payload.sku_id,
        quantity=payload.quantity,
        address=address,
        delivery_method=payload.delivery_method,
        store_id=payload.store_id,
        buyer_note=payload.buyer_note,
        hints=payload.hints,
        idempotency_key=key,
    )


# --- shoppers --------------------------------------------------------------------------------------


@shop.get("/activities", auth=None, response={200: list[ActivityOut]})
def live_activities(request):
    """Group buys running now."""
    return [_activity_out(a) for a in queries.live_activities()]


@shop.get("/groups/{code}", auth=None, response={200: GroupOut, 404: ErrorBody})
def group_detail(request, code: str):
    """A group as its share link shows it (members' names masked)."""
    group = Group.objects.select_related("activity").filter(code=code.upper()).first()
    if group is None:
        raise NotFound(_("No such group."))
    return group_out(group)


@shop.post(
    "/activities/{activity_id}/open",
    response={200: SeatOut, 201: SeatOut, **ERRORS},
    summary="Open a group (Idempotency-Key required)",
)
def open_group(
    request,
    response: HttpResponse,
    activity_id: int,
    payload: SeatIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    """Places the initiator's order at the group price; the group opens when it is paid."""
    joined = services.open_group(
        actor(request), activity_id, _purchase(request, payload, idempotency_key)
    )
    if not joined.created:
        response["Idempotent-Replayed"] = "true"
    return Status(201 if joined.created else 200, _seat_out(joined))


@shop.post(
    "/groups/{code}/join",
    response={200: SeatOut, 201: SeatOut, **ERRORS},
    summary="Join a group through its share code (Idempotency-Key required)",
)
def join_group(
    request,
    response: HttpResponse,
    code: str,
    payload: SeatIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
):
    """Takes a seat and places the order; pay it before `payment_deadline` to keep the seat."""
    joined = services.join_group(actor(request), code, _purchase(request, payload, idempotency_key))
    if not joined.created:
        response["Idempotent-Replayed"] = "true"
    return Status(201 if joined.created else 200, _seat_out(joined))


@shop.post("/members/{member_id}/leave", response={200: SeatOut, **ERRORS})
def leave_group(request, member_id: int):
    """Leave before the group succeeds: a paid order is refunded in full, an unpaid one
    cancelled; the seat reopens."""
    member = services.leave_group(member_id, actor=actor(request))
    return _seat_out(services.Joined(member.group, member, created=False))


@shop.get("/mine", response={200: list[SeatOut], **ERRORS})
def my_groups(request):
    who = actor(request)
    if who.kind != "customer":
        raise NotFound(_("Not found."))
    return [
        _seat_out(services.Joined(m.group, m, created=False))
        for m in queries.my_groups(who.customer_id)
    ]


router.add_router("/shop", shop)


# --- staff -----------------------------------------------------------------------------------------


def _activity_input(payload: ActivityIn) -> services.ActivityInput:
    items = []
    for n, row in enumerate(payload.items):
        if "sku_id" not in row or "group_price_fen" not in row:
            raise ValidationFailed(
                _("Each item needs sku_id and group_price_fen."), fields={f"items.{n}": "invalid"}
            )
        items.append((int(row["sku_id"]), int(row["group_price_fen"])))
    return services.ActivityInput(
        title=payload.title,
        description=payload.description,
        group_size=payload.group_size,
        time_limit_hours=payload.time_limit_hours,
        per_customer_limit=payload.per_customer_limit,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        items=items,
    )


@router.get("/activities", response={200: list[ActivityOut], **ERRORS})
def list_activities(request, status: str = ""):
    authorize(actor(request), "groupbuy.view")
    qs = Activity.objects.prefetch_related("items__sku__product")
    if status:
        qs = qs.filter(status=status)
    return [_activity_out(a) for a in qs[:200]]


@router.post("/activities", response={201: ActivityOut, **ERRORS})
def create_activity(request, payload: ActivityIn):
    activity = services.create_activity(_activity_input(payload), actor=actor(request))
    return Status(201, _activity_out(activity))


@router.put("/activities/{activity_id}", response={200: ActivityOut, **ERRORS})
def update_activity(request, activity_id: int, payload: ActivityIn):
    activity = services.update_activity(activity_id, _activity_input(payload), actor=actor(request))
    return _activity_out(activity)


@router.post("/activities/{activity_id}/end", response={200: ActivityOut, **ERRORS})
def end_activity(request, activity_id: int):
    return _activity_out(services.end_activity(activity_id, actor=actor(request)))


@router.get("/figures", response={200: list[FiguresOut], **ERRORS})
def figures(request):
    """Per activity: groups by outcome, success rate (of decided groups) and GMV (what members of
    successful groups paid)."""
    authorize(actor(request), "groupbuy.view")
    return [
        {
            "activity_id": f.activity.pk,
            "title": f.activity.title,
            "groups": f.groups,
            "open": f.open,
            "succeeded": f.succeeded,
            "failed": f.failed,
            "success_rate": f.success_rate,
            "gmv_fen": f.gmv_fen,
        }
        for f in queries.activity_figures(list(Activity.objects.all()[:200]))
    ]


@router.get("/groups", response={200: list[StaffGroupOut], **ERRORS})
def list_groups(request, status: str = "", activity_id: int | None = None, limit: int = 100):
    authorize(actor(request), "groupbuy.view")
    qs = Group.objects.all()
    if status:
        qs = qs.filter(status__in=status.split(","))
    if activity_id:
        qs = qs.filter(activity_id=activity_id)
    return list(qs.order_by("-id")[: max(1, min(limit, 500))])


@router.get("/groups/{group_id}/members", response={200: list[dict], **ERRORS})
def group_members(request, group_id: int):
    authorize(actor(request), "groupbuy.view")
    return list(
        Member.objects.filter(group_id=group_id)
        .order_by("joined_at", "id")
        .values("id", "customer_id", "order_id", "status", "is_initiator", "paid_fen", "refund_key")
    )
