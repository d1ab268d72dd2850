"""Storefront pages of group buying (under /m/groupbuy/): running activities, an activity's page
to open a group (开团) or join one (参团), a group's page — members, countdown, share link and a
poster with its QR code — and the shopper's own groups. They use the H5 mall's shell."""

from __future__ import annotations

import io
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError
from siyu.mall.sessions import attribution_hints, shopper_actor, shopper_required
from siyu.mall.views.common import render_page
from siyu.orders.services import Address

from . import queries, services
from .models import Activity, Group, GroupStatus, Member, MemberStatus


def _group_or_404(code: str) -> Group:
    group = Group.objects.select_related("activity").filter(code=(code or "").upper()).first()
    if group is None:
        raise Http404
    return group


def share_url(request, group: Group) -> str:
    return request.build_absolute_uri(reverse("groupbuy_h5:group", args=[group.code]))


def activities(request):
    return render_page(
        request,
        "groupbuy/h5/activities.html",
        {"title": _("Group buys"), "activities": list(queries.live_activities())},
        tab="home",
    )


def _items(activity: Activity) -> list:
    return list(activity.items.select_related("sku", "sku__product").order_by("id"))


def _saved_addresses(actor) -> list:
    if actor.kind != "customer":
        return []
    from siyu.mall.services import list_addresses

    return list(list_addresses(actor=actor))


def activity(request, activity_id: int):
    found = Activity.objects.filter(pk=activity_id).first()
    if found is None:
        raise Http404
    actor = shopper_actor(request)
    open_groups = (
        Group.objects.filter(activity=found, status=GroupStatus.OPEN, expires_at__gt=timezone.now())
        .select_related("initiator")
        .order_by("expires_at")[:10]
    )
    return render_page(
        request,
        "groupbuy/h5/activity.html",
        {
            "title": found.title,
            "activity": found,
            "items": _items(found),
            "live": found.is_live(),
            "open_groups": [g for g in open_groups if g.seats_left > 0],
            "addresses": _saved_addresses(actor),
            "logged_in": actor.kind == "customer",
            "form_key": uuid.uuid4().hex,
            "back_url": reverse("groupbuy_h5:activities"),
        },
        tab="home",
    )


def group(request, code: str):
    found = _group_or_404(code)
    actor = shopper_actor(request)
    mine = None
    if actor.kind == "customer":
        mine = (
            Member.objects.filter(group=found, customer_id=actor.customer_id)
            .select_related("order")
            .order_by("-id")
            .first()
        )
    members = queries.members_of(found)
    seconds_left = 0
    if found.status == GroupStatus.OPEN and found.expires_at:
        seconds_left = max(0, int((found.expires_at - timezone.now()).total_seconds()))
    can_join = (
        found.status == GroupStatus.OPEN
        and seconds_left > 0
        and found.seats_left > 0
        and (mine is None or mine.status not in (*services.SEAT_HOLDING, MemberStatus.SUCCEEDED))
    )
    pay_url = ""
    if mine is not None and mine.status == MemberStatus.PENDING_PAYMENT:
        pay_url = (
            reverse("payments_h5:pay", args=[mine.order_id])
            + "?"
            + urlencode({"next": reverse("groupbuy_h5:group", args=[found.code])})
        )
    return render_page(
        request,
        "groupbuy/h5/group.html",
        {
            "title": _("Group %(code)s") % {"code": found.code},
            "group": found,
            "activity": found.activity,
            "items": _items(found.activity),
            "members": [(queries.masked_name(m.customer.name), m) for m in members],
            "empty_seats": range(max(0, found.size - len(members))),
            "mine": mine,
            "can_join": can_join,
            "pay_url": pay_url,
            "seconds_left": seconds_left,
            "share_url": share_url(request, found),
            "addresses": _saved_addresses(actor),
            "logged_in": actor.kind == "customer",
            "form_key": uuid.uuid4().hex,
            "back_url": reverse("groupbuy_h5:activity", args=[found.activity_id]),
        },
        tab="home",
    )


def _purchase(request) -> services.Purchase:
    post = request.POST
    address = None
    if post.get("address_id"):
        from siyu.mall.services import get_address

        try:
            saved = get_address(int(post["address_id"]), actor=request.actor)
        except (ValueError, DomainError):
            saved = None
        if saved is not None:
            address = Address(
                name=saved.receiver_name,
                phone=saved.receiver_phone,
                province=saved.province,
                city=saved.city,
                district=saved.district,
                detail=saved.detail,
            )
    if address is None:
        address = Address(
            name=post.get("name", ""),
            phone=post.get("phone", ""),
            province=post.get("province", ""),
            city=post.get("city", ""),
            district=post.get("district", ""),
            detail=post.get("detail", ""),
        )
    return services.Purchase(
        sku_id=post.get("sku_id") or 0,
        quantity=post.get("quantity") or 1,
        address=address,
        buyer_note=post.get("note", ""),
        hints=attribution_hints(request),
        # one form, one seat: a double submit of the same form returns the same order
        idempotency_key=(post.get("form_key") or uuid.uuid4().hex)[:64],
    )


def _after_seat(joined: services.Joined):
    return redirect("mall:pay", order_id=joined.member.order_id)


def _error_fields(exc: DomainError) -> str:
    return " ".join(f"{v}" for v in exc.fields.values()) if exc.fields else ""


@require_POST
@shopper_required
def open_group(request, activity_id: int):
    try:
        joined = services.open_group(request.actor, activity_id, _purchase(request))
    except DomainError as exc:
        messages.error(request, f"{exc.message} {_error_fields(exc)}".strip())
        return redirect("groupbuy_h5:activity", activity_id=activity_id)
    return _after_seat(joined)


@require_POST
@shopper_required
def join_group(request, code: str):
    try:
        joined = services.join_group(request.actor, code, _purchase(request))
    except DomainError as exc:
        messages.error(request, f"{exc.message} {_error_fields(exc)}".strip())
        return redirect("groupbuy_h5:group", code=code.upper())
    return _after_seat(joined)


@require_POST
@shopper_required
def leave_group(request, member_id: int):
    try:
        member = services.leave_group(member_id, actor=request.actor)
    except DomainError as exc:
        messages.error(request, exc.message)
        member = Member.objects.filter(pk=member_id, customer_id=request.actor.customer_id).first()
        if member is None:
            raise Http404 from None
    else:
        messages.success(request, _("You left the group. Any payment is on its way back to you."))
    return redirect("groupbuy_h5:group", code=member.group.code)


@shopper_required
def mine(request):
    return render_page(
        request,
        "groupbuy/h5/mine.html",
        {
            "title": _("My group buys"),
            "memberships": queries.my_groups(request.actor.customer_id, limit=50),
            "back_url": reverse("mall:me"),
        },
        tab="me",
    )


def poster(request, code: str):
    """A poster to save and share in WeChat: product, group price, how many are needed, QR."""
    found = _group_or_404(code)
    items = _items(found.activity)
    return render_page(
        request,
        "groupbuy/h5/poster.html",
        {
            "title": _("Share poster"),
            "group": found,
            "activity": found.activity,
            "item": items[0] if items else None,
            "share_url": share_url(request, found),
            "back_url": reverse("groupbuy_h5:group", args=[found.code]),
        },
    )


@cache_control(public=True, max_age=3600)
def qr(request, code: str):
    """The group's share link as a QR code (SVG)."""
    import segno

    found = _group_or_404(code)
    out = io.BytesIO()
    segno.make(share_url(request, found), error="m").save(
        out, kind="svg", scale=6, border=2, dark="#1f2329"
    )
    return HttpResponse(out.getvalue(), content_type="image/svg+xml")
