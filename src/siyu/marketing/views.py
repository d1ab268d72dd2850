"""Console pages: coupons and flash sales with their live figures. Every change goes through
`services` / `flash`, which authorise."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.pagination import page_from_request

from . import flash, services
from .forms import CouponForm, IssueForm, SaleForm
from .models import CouponIssue, SaleStatus


def _viewer(request):
    actor = actor_from_request(request)
    authorize(actor, "marketing.view")
    return actor


def _domain_error(request, form, exc: DomainError) -> None:
    shown = False
    for field, message in exc.fields.items():
        name = {"amount_fen": "amount_yuan", "min_spend_fen": "min_spend_yuan"}.get(field, field)
        name = {"max_discount_fen": "max_discount_yuan", "category_ids": "categories"}.get(
            name, name
        )
        if name in form.fields:
            form.add_error(name, message)
            shown = True
    if not shown:
        form.add_error(None, exc.message)


@login_required
def coupons(request):
    actor = _viewer(request)
    page = page_from_request(request, services.coupons_for_staff(actor))
    figures = services.coupon_figures([c.pk for c in page.items])
    return render(
        request,
        "marketing/coupons.html",
        {
            "title": _("Coupons"),
            "page": page,
            "rows": [(c, figures[c.pk]) for c in page.items],
            "can_manage": actor.can("marketing.manage"),
        },
    )


@login_required
def coupon_new(request):
    actor = _viewer(request)
    authorize(actor, "marketing.manage")
    form = CouponForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            coupon = services.create_coupon(
                actor,
                services.CouponInput(
                    name=d["name"],
                    description=d["description"],
                    kind=d["kind"],
                    amount_fen=d["amount_fen"],
                    percent_off=d.get("percent_off") or 0,
                    max_discount_fen=d["max_discount_fen"],
                    min_spend_fen=d["min_spend_fen"],
                    scope=d["scope"],
                    product_ids=d["product_id_list"],
                    category_ids=[c.pk for c in d["categories"]],
                    valid_from=d["valid_from"],
                    valid_until=d["valid_until"],
                    valid_days=d["valid_days"],
                    total_quantity=d["total_quantity"],
                    per_customer_limit=d["per_customer_limit"],
                    claimable=d["claimable"],
                    refund_policy=d["refund_policy"],
                ),
                activate=d["activate"],
            )
        except DomainError as exc:
            _domain_error(request, form, exc)
        else:
            messages.success(request, _("Coupon “%(name)s” created.") % {"name": coupon.name})
            return redirect("marketing:coupon", coupon_id=coupon.pk)
    return render(request, "marketing/coupon_form.html", {"title": _("New coupon"), "form": form})


def _segments(actor):
    if not actor.can("segments.view"):
        return []
    from siyu.segments import services as segments

    return list(segments.segments_visible_to(actor).order_by("name")[:200])


@login_required
def coupon(request, coupon_id: int):
    actor = _viewer(request)
    found = services.get_coupon(actor, coupon_id)
    figures = services.coupon_figures([found.pk])[found.pk]
    if request.htmx and request.GET.get("part") == "figures":
        return render(
            request, "marketing/_coupon_figures.html", {"coupon": found, "figures": figures}
        )
    form = None
    if actor.can("marketing.issue"):
        form = IssueForm(request.POST or None, segments=_segments(actor))
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                run = services.issue(
                    actor,
                    found.pk,
                    customer_ids=d["customer_id_list"] or None,
                    segment_id=d["segment"] if not d["customer_id_list"] else None,
                    notify=d["notify"],
                    channel=d["channel"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    _("Issued %(issued)s, skipped %(skipped)s, notified %(notified)s.")
                    % {"issued": run.issued, "skipped": run.skipped, "notified": run.notified},
                )
                return redirect("marketing:coupon", coupon_id=found.pk)
    share = request.build_absolute_uri(reverse("marketing_h5:share", args=[found.share_code]))
    return render(
        request,
        "marketing/coupon.html",
        {
            "title": found.name,
            "coupon": found,
            "figures": figures,
            "form": form,
            "issues": CouponIssue.objects.filter(coupon=found)[:20],
            "share_url": share,
            "can_manage": actor.can("marketing.manage"),
        },
    )


@login_required
@require_POST
def coupon_status(request, coupon_id: int):
    actor = _viewer(request)
    services.set_coupon_status(actor, coupon_id, request.POST.get("status", ""))
    messages.success(request, _("Saved."))
    return redirect("marketing:coupon", coupon_id=coupon_id)


@login_required
def sales(request):
    actor = _viewer(request)
    page = page_from_request(request, flash.sales_for_staff(actor))
    figures = flash.sale_figures([s.pk for s in page.items])
    return render(
        request,
        "marketing/sales.html",
        {
            "title": _("Flash sales"),
            "page": page,
            "rows": [(s, figures[s.pk]) for s in page.items],
            "can_manage": actor.can("marketing.manage"),
        },
    )


@login_required
def sale_new(request):
    actor = _viewer(request)
    authorize(actor, "marketing.manage")
    form = SaleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            sale = flash.create_sale(
                actor,
                title=d["title"],
                kind=d["kind"],
                starts_at=d["starts_at"],
                ends_at=d["ends_at"],
                per_customer_limit=d["per_customer_limit"],
                items=[flash.ItemInput(*row) for row in d["items"]],
                publish=d["publish"],
            )
        except DomainError as exc:
            for field, message in exc.fields.items():
                target = "items" if field.startswith("items") else field
                form.add_error(target if target in form.fields else None, message)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            messages.success(request, _("Flash sale “%(title)s” created.") % {"title": sale.title})
            return redirect("marketing:sale", sale_id=sale.pk)
    return render(request, "marketing/sale_form.html", {"title": _("New flash sale"), "form": form})


@login_required
def sale(request, sale_id: int):
    actor = _viewer(request)
    found = flash.get_sale(actor, sale_id)
    context = {
        "sale": found,
        "figures": flash.sale_figures([found.pk])[found.pk],
        "items": list(found.items.select_related("sku__product")),
    }
    if request.htmx and request.GET.get("part") == "figures":
        return render(request, "marketing/_sale_figures.html", context)
    return render(
        request,
        "marketing/sale.html",
        {
            **context,
            "title": found.title,
            "can_manage": actor.can("marketing.manage") and found.status != SaleStatus.CANCELLED,
            "page_url": request.build_absolute_uri(reverse("marketing_h5:flash")),
        },
    )


@login_required
@require_POST
def sale_status(request, sale_id: int):
    actor = _viewer(request)
    flash.set_sale_status(actor, sale_id, request.POST.get("status", ""))
    messages.success(request, _("Saved."))
    return redirect("marketing:sale", sale_id=sale_id)
