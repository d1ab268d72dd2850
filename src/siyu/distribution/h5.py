"""Storefront pages of distribution (under /m/distribution/): a distributor's shop page that their
share link opens, the application page, and the distributor centre (earnings by status, sales,
direct referrals only, share link and QR code, withdrawals).

Simple on purpose: they use the H5 mall's shell (`mall/base.html`, its shopper session); the mall
owns the look.
"""

from __future__ import annotations

import io

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError
from siyu.core.money import BadAmount, yuan_to_fen
from siyu.ledger.models import Withdrawal
from siyu.mall.sessions import shopper_actor, shopper_required
from siyu.mall.views.common import render_page

from . import queries, services
from .models import (
    ApplicationStatus,
    Commission,
    Distributor,
    DistributorApplication,
    DistributorStatus,
    JoinMode,
)

# The share code a visitor arrived with, kept for checkout (`link_code_from_session`).
SESSION_KEY = "distribution_link"


def link_code_from_session(request) -> str | None:
    """The share code this shopper's session arrived through, for checkout to pass to
    `services.attribution_for` (or as the `distributor_code` attribution hint)."""
    found = request.session.get(SESSION_KEY)
    return found.get("code") if isinstance(found, dict) else None


def share_url(request, distributor: Distributor) -> str:
    return request.build_absolute_uri(reverse("distribution_h5:shop", args=[distributor.code]))


def shop(request, code: str):
    """What a share link opens: records the click (binding a logged-in customer under the
    programme's rule) and remembers the code for checkout."""
    actor = shopper_actor(request)
    customer_id = actor.customer_id if actor.kind == "customer" else None
    distributor, _click = services.record_click(
        code, customer_id=customer_id, landing=request.get_full_path()
    )
    if distributor is None:
        raise Http404
    request.session[SESSION_KEY] = {"code": distributor.code, "at": timezone.now().isoformat()}
    return render_page(
        request,
        "distribution/h5/shop.html",
        {
            "title": distributor.display_name,
            "distributor": distributor,
            "products": _featured_products(),
            "is_own": customer_id == distributor.customer_id,
        },
        tab="home",
    )


def _featured_products(limit: int = 10) -> list[dict]:
    """A few products for the shop page ({"title", "url"}), once the catalogue and the mall's
    product pages exist."""
    from django.urls import NoReverseMatch

    try:
        from siyu.catalog.models import Product
    except ImportError:
        return []
    qs = Product.objects.all()
    if any(f.name == "status" for f in Product._meta.get_fields()):
        qs = qs.filter(status="on_shelf")
    found = []
    for product in qs.order_by("-id")[:limit]:
        try:
            url = reverse("mall:product", args=[product.pk])
        except NoReverseMatch:
            return []
        found.append({"title": getattr(product, "title", str(product)), "url": url})
    return found


@shopper_required
def apply(request):
    """Become a distributor: free, no purchase needed, in whichever mode the programme runs."""
    actor = request.actor
    existing = services.distributor_for_customer(actor.customer_id)
    if existing is not None:
        return redirect("distribution_h5:centre")
    rules = services.program()
    invite = (request.POST.get("invite_code") or request.GET.get("invite") or "").strip()
    if not invite:
        invite = link_code_from_session(request) or ""
    if request.method == "POST":
        try:
            result = services.join(
                actor.customer_id,
                actor=actor,
                display_name=request.POST.get("display_name", ""),
                invite_code=invite or None,
                motivation=request.POST.get("motivation", ""),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            if isinstance(result, Distributor):
                messages.success(request, _("Welcome! Your shop is ready to share."))
                return redirect("distribution_h5:centre")
            messages.success(request, _("Thanks! We will review your application soon."))
            return redirect("distribution_h5:apply")
    latest = (
        DistributorApplication.objects.filter(customer_id=actor.customer_id).order_by("-id").first()
    )
    return render_page(
        request,
        "distribution/h5/apply.html",
        {
            "title": _("Become a distributor"),
            "rules": rules,
            "modes": JoinMode,
            "invite": invite,
            "pending": latest if latest and latest.status == ApplicationStatus.PENDING else None,
            "rejected": latest if latest and latest.status == ApplicationStatus.REJECTED else None,
            "back_url": reverse("mall:me"),
        },
        tab="me",
    )


@shopper_required
def centre(request):
    """The distributor centre."""
    actor = request.actor
    distributor = services.distributor_for_customer(actor.customer_id)
    if distributor is None:
        return redirect("distribution_h5:apply")
    commissions = (
        Commission.objects.filter(distributor=distributor)
        .select_related("order", "order_line", "buyer")
        .order_by("-id")[:30]
    )
    bound = queries.bound_customers(distributor, limit=30)
    recruits = distributor.recruits.filter(status=DistributorStatus.ACTIVE).select_related(
        "customer"
    )[:30]
    return render_page(
        request,
        "distribution/h5/centre.html",
        {
            "title": _("Distributor centre"),
            "distributor": distributor,
            "earnings": queries.earnings(distributor),
            "rules": services.program(),
            "commissions": commissions,
            "referrals": [(queries.masked_name(b.customer.name), b) for b in bound],
            "referral_count": queries.bound_count(distributor),
            "recruits": recruits,
            "recruit_count": distributor.recruits.count(),
            "share_url": share_url(request, distributor),
            "withdrawals": Withdrawal.objects.filter(
                owner_kind=services.OWNER_KIND, owner_id=distributor.pk
            )[:10],
            "back_url": reverse("mall:me"),
        },
        tab="me",
    )


@require_POST
@shopper_required
def withdraw(request):
    actor = request.actor
    distributor = services.distributor_for_customer(actor.customer_id)
    if distributor is None:
        return redirect("distribution_h5:apply")
    try:
        amount = yuan_to_fen(request.POST.get("amount"))
        services.request_withdrawal(distributor.pk, amount, actor=actor)
    except BadAmount:
        messages.error(request, _("Enter an amount such as 50 or 12.50."))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Withdrawal requested: we will review it shortly."))
    return redirect("distribution_h5:centre")


@cache_control(public=True, max_age=3600)
def qr(request, code: str):
    """The share link as a QR code (SVG) for posters and WeChat moments."""
    import segno

    distributor = Distributor.objects.filter(code=code.upper()).first()
    if distributor is None:
        raise Http404
    out = io.BytesIO()
    segno.make(share_url(request, distributor), error="m").save(
        out, kind="svg", scale=6, border=2, dark="#1f2329"
    )
    return HttpResponse(out.getvalue(), content_type="image/svg+xml")
