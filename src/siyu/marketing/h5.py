"""Storefront pages under /m/marketing/: the coupon centre, a coupon's share link, my coupons,
the flash-sale page with its countdown, and buying a flash-sale item. They use the H5 mall's
shell (`mall/base.html`, its shopper session)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError
from siyu.mall import services as mall
from siyu.mall.sessions import shopper_actor, shopper_required
from siyu.mall.views.common import render_page
from siyu.orders import services as orders

from . import flash, services


def centre(request):
    actor = shopper_actor(request)
    return render_page(
        request,
        "marketing/h5/centre.html",
        {
            "title": _("Coupon centre"),
            "offers": services.centre(actor),
            "back_url": reverse("mall:home"),
        },
    )


def _offer(actor, coupon) -> dict:
    for offer in services.centre(actor):
        if offer["coupon"].pk == coupon.pk:
            return offer
    held = 0
    if actor.kind == "customer":
        held = services.my_coupons(actor).filter(coupon=coupon).count()
    return {"coupon": coupon, "held": held, "can_claim": False, "sold_out": False}


@shopper_required
@require_POST
def claim(request, coupon_id: int):
    """Claim from the centre or a share link (`share` in the form); answers the card again."""
    actor = request.actor
    share = (request.POST.get("share") or "")[:16]
    error = ""
    try:
        held = services.claim(actor, coupon_id, via_share=share)
    except DomainError as exc:
        error, held = exc.message, None
    coupon = services.coupon_by_share_code(share) if share else None
    if coupon is None:
        from .models import Coupon

        coupon = Coupon.objects.get(pk=coupon_id)
    offer = _offer(actor, coupon)
    if share and held is not None:
        offer["can_claim"] = False
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, _("Claimed. Find it under My coupons."))
        return redirect(request.POST.get("next") or reverse("marketing_h5:centre"))
    return render_page(
        request,
        "marketing/h5/_coupon_card.html",
        {"offer": offer, "claimed": held is not None, "error": error, "share": share},
    )


def share(request, code: str):
    coupon = services.coupon_by_share_code(code)
    actor = shopper_actor(request)
    offer = _offer(actor, coupon)
    held = offer["held"]
    offer["can_claim"] = (
        coupon.status == "active"
        and held < coupon.per_customer_limit
        and (coupon.total_quantity is None or coupon.issued_count < coupon.total_quantity)
    )
    return render_page(
        request,
        "marketing/h5/share.html",
        {"title": coupon.name, "offer": offer, "share": coupon.share_code},
    )


@shopper_required
def mine(request):
    state = request.GET.get("state") if request.GET.get("state") in ("used", "expired") else ""
    coupons = services.my_coupons(request.actor, state=state or "available")[:100]
    return render_page(
        request,
        "marketing/h5/mine.html",
        {
            "title": _("My coupons"),
            "coupons": coupons,
            "state": state or "available",
            "back_url": reverse("mall:me"),
            "now": timezone.now(),
        },
        tab="me",
    )


def flash_page(request):
    now = timezone.now()
    sales = flash.storefront_sales(now)
    return render_page(
        request,
        "marketing/h5/flash.html",
        {
            "title": _("Flash sales"),
            "sales": sales,
            "now": now,
            "back_url": reverse("mall:home"),
        },
    )


@shopper_required
def flash_buy(request, item_id: int):
    """Confirm and place a flash-sale order (the default address, or choose another)."""
    actor = request.actor
    item = flash.item_for_sale(item_id)
    sale = item.sale
    address_id = request.POST.get("address") or request.GET.get("address")
    address = None
    if address_id and str(address_id).isdigit():
        try:
            address = mall.get_address(int(address_id), actor=actor)
        except DomainError:
            address = None
    if address is None:
        address = mall.default_address(actor=actor)
    bought = flash.bought_in(sale.pk, actor.customer_id)
    allowed = max(0, sale.per_customer_limit - bought)
    problem = ""
    if request.method == "POST":
        try:
            quantity = int(request.POST.get("quantity") or 1)
        except ValueError:
            quantity = 1
        try:
            placed = flash.buy(
                actor,
                item.pk,
                quantity=quantity,
                checkout=orders.Checkout(
                    items=[],
                    address=orders.Address(
                        name=address.receiver_name,
                        phone=address.receiver_phone,
                        province=address.province,
                        city=address.city,
                        district=address.district,
                        detail=address.detail,
                    )
                    if address
                    else None,
                ),
                idempotency_key=request.POST.get("idempotency_key", "")[:64],
            )
        except DomainError as exc:
            problem = exc.message
        else:
            return redirect("mall:pay", order_id=placed.order.pk)
    here = reverse("marketing_h5:flash_buy", args=[item.pk])
    return render_page(
        request,
        "marketing/h5/flash_buy.html",
        {
            "title": _("Confirm flash-sale order"),
            "item": item,
            "sale": sale,
            "address": address,
            "allowed": allowed,
            "problem": problem,
            "idempotency_key": request.POST.get("idempotency_key") or uuid.uuid4().hex,
            "address_book_url": f"{reverse('mall:addresses')}?next={here}",
            "back_url": reverse("marketing_h5:flash"),
        },
        status=409 if problem else 200,
    )
