"""The member page (我的) and the address book."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.apps import siyu_configs
from siyu.core.errors import ValidationFailed

from .. import services
from ..profile import shopper_profile
from ..sessions import shopper_required
from .common import render_page, safe_next


def member_panels(request, actor) -> list[dict]:
    """Panels other apps contribute through `SiyuAppConfig.member_panels(actor)`, rendered."""
    panels = []
    for config in siyu_configs():
        for panel in config.member_panels(actor):
            panels.append(
                {
                    "title": panel.get("title", ""),
                    "url": panel.get("url", ""),
                    "order": panel.get("order", 100),
                    "html": render_to_string(
                        panel["template"], panel.get("context", {}), request=request
                    ),
                }
            )
    panels.sort(key=lambda p: (p["order"], str(p["title"])))
    return panels


@shopper_required
def me(request):
    actor = request.actor
    from .orders import order_summary

    return render_page(
        request,
        "mall/me.html",
        {
            "title": _("Me"),
            "profile": shopper_profile(actor),
            "summary": order_summary(actor),
            "address_count": len(services.list_addresses(actor=actor)),
            "panels": member_panels(request, actor),
        },
        tab="me",
    )


@shopper_required
def addresses(request):
    actor = request.actor
    pick_for = safe_next(request, request.GET.get("next"), default="")
    if pick_for == reverse("mall:home"):
        pick_for = ""
    return render_page(
        request,
        "mall/addresses.html",
        {
            "title": _("My addresses"),
            "addresses": services.list_addresses(actor=actor),
            "pick_for": pick_for,
            "back_url": pick_for or reverse("mall:me"),
            "max_addresses": services.MAX_ADDRESSES,
        },
        tab="me",
    )


def _address_input(post) -> services.AddressInput:
    return services.AddressInput(
        receiver_name=post.get("receiver_name", ""),
        receiver_phone=post.get("receiver_phone", ""),
        province=post.get("province", ""),
        city=post.get("city", ""),
        district=post.get("district", ""),
        detail=post.get("detail", ""),
        label=post.get("label", ""),
        is_default=post.get("is_default") == "on",
    )


@shopper_required
def address_form(request, address_id: int | None = None):
    actor = request.actor
    address = services.get_address(address_id, actor=actor) if address_id else None
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"), default="")
    errors: dict = {}
    error_message = ""
    values = {}
    if address is not None:
        values = {
            f: getattr(address, f)
            for f in (
                "receiver_name",
                "receiver_phone",
                "province",
                "city",
                "district",
                "detail",
                "label",
                "is_default",
            )
        }
    if request.method == "POST":
        data = _address_input(request.POST)
        values = data.__dict__
        try:
            saved = services.save_address(data, actor=actor, address_id=address_id)
        except ValidationFailed as exc:
            errors, error_message = exc.fields, exc.message
        else:
            messages.success(request, _("Address saved."))
            if next_url and next_url != reverse("mall:home"):
                separator = "&" if "?" in next_url else "?"
                return redirect(f"{next_url}{separator}address={saved.pk}")
            return redirect("mall:addresses")
    return render_page(
        request,
        "mall/address_form.html",
        {
            "title": _("Edit address") if address else _("New address"),
            "address": address,
            "values": values,
            "errors": errors,
            "error_message": error_message,
            "next": next_url,
            "back_url": reverse("mall:addresses"),
        },
        tab="me",
        status=422 if errors else 200,
    )


@shopper_required
@require_POST
def address_delete(request, address_id: int):
    services.delete_address(address_id, actor=request.actor)
    messages.success(request, _("Address deleted."))
    return redirect("mall:addresses")


@shopper_required
@require_POST
def address_default(request, address_id: int):
    services.set_default_address(address_id, actor=request.actor)
    messages.success(request, _("Default address changed."))
    return redirect("mall:addresses")
