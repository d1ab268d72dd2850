"""The shopper's orders: list, detail with its status timeline, pay, cancel, confirm receipt,
and after-sales (request, follow, send the goods back, withdraw). Every read goes through the
orders service's row scope, so a shopper only ever sees their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.catalog.models import ProductImage
from siyu.core.errors import DomainError, NotFound
from siyu.orders import services as orders
from siyu.orders.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleReason,
    AfterSaleStatus,
    OrderLine,
    OrderStatus,
)
from siyu.orders.states import AFTER_SALES_OPEN

from ..sessions import shopper_required
from .common import render_page

S = OrderStatus
PAGE_SIZE = 10

# The order-list tabs (and the member page's shortcuts): key, label, statuses.
GROUPS = (
    ("to_pay", gettext_lazy("To pay"), (S.PENDING_PAYMENT,)),
    ("to_ship", gettext_lazy("To ship"), (S.PAID, S.PARTIALLY_SHIPPED)),
    ("to_receive", gettext_lazy("To receive"), (S.SHIPPED, S.DELIVERED)),
    ("completed", gettext_lazy("Completed"), (S.COMPLETED,)),
)
OPEN_CASES = (
    AfterSaleStatus.REQUESTED,
    AfterSaleStatus.AWAITING_RETURN,
    AfterSaleStatus.RETURN_SHIPPED,
    AfterSaleStatus.REFUNDING,
    AfterSaleStatus.REFUND_FAILED,
)
# Order lines with what their thumbnails need (the product's first image, when the SKU still exists).
_LINES = (
    OrderLine.objects.order_by("line_no")
    .select_related("sku__product")
    .prefetch_related(
        Prefetch("sku__product__images", queryset=ProductImage.objects.order_by("sort", "id"))
    )
)
SHOPPER_REASONS = [c for c in AfterSaleReason.choices if c[0] != AfterSaleReason.MERCHANT]


def _cases_of(actor):
    return AfterSale.objects.filter(order__in=orders.orders_visible_to(actor))


def order_summary(actor) -> list[dict]:
    """Counts for the member page: one grouped query over the shopper's orders."""
    counts = dict(
        orders.orders_visible_to(actor)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    summary = [
        {
            "key": key,
            "label": label,
            "count": sum(counts.get(s, 0) for s in statuses),
            "url": f"{reverse('mall:orders')}?status={key}",
        }
        for key, label, statuses in GROUPS[:3]
    ]
    summary.append(
        {
            "key": "after_sales",
            "label": _("After-sales"),
            "count": _cases_of(actor).filter(status__in=OPEN_CASES).count(),
            "url": reverse("mall:after_sales"),
        }
    )
    return summary


@shopper_required
def order_list(request):
    actor = request.actor
    status = request.GET.get("status", "")
    qs = orders.orders_visible_to(actor).prefetch_related(Prefetch("lines", queryset=_LINES))
    group = next((g for g in GROUPS if g[0] == status), None)
    if group:
        qs = qs.filter(status__in=group[2])
    try:
        before = int(request.GET.get("before", ""))
        qs = qs.filter(pk__lt=before)
    except ValueError:
        pass
    rows = list(qs.order_by("-pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_url = ""
    if more:
        next_url = f"{reverse('mall:orders')}?" + urlencode(
            {k: v for k, v in {"status": status, "before": rows[-1].pk}.items() if v}
        )
    context = {
        "title": _("My orders"),
        "orders": rows,
        "status": status if group else "",
        "groups": [(k, label) for k, label, _s in GROUPS],
        "next_url": next_url,
        "back_url": reverse("mall:me"),
    }
    if request.htmx and request.GET.get("before"):
        return render_page(request, "mall/_order_cards.html", context)
    return render_page(request, "mall/orders.html", context, tab="me")


@dataclass
class TimelineEntry:
    at: datetime
    label: str
    note: str = ""


def _timeline(order, cases) -> list[TimelineEntry]:
    labels = dict(OrderStatus.choices)
    entries = []
    for change in order.history.all():
        label = labels.get(change.to_status, change.to_status)
        if not change.from_status:
            label = _("Order placed")
        entries.append(TimelineEntry(change.created_at, str(label), change.note))
    for shipment in order.shipments.all():
        text = " ".join(p for p in (shipment.carrier, shipment.tracking_no) if p)
        entries.append(TimelineEntry(shipment.shipped_at, _("Parcel sent"), text))
    case_labels = dict(AfterSaleStatus.choices)
    for case in cases:
        for change in case.history.all():
            label = _("After-sales %(number)s: %(status)s") % {
                "number": case.number,
                "status": case_labels.get(change.to_status, change.to_status),
            }
            entries.append(TimelineEntry(change.created_at, label, change.note))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def _status_hint(order) -> str:
    if order.status == S.PENDING_PAYMENT and order.payment_deadline:
        return _("Pay before %(time)s, or the order is cancelled.") % {
            "time": timezone.localtime(order.payment_deadline).strftime("%H:%M")
        }
    if order.status == S.PAID and order.fulfilment_hold.startswith("group_buy:"):
        return _("Paid. It ships as soon as your group is complete.")
    if order.status == S.PAID:
        if order.is_pickup:
            return _("Ready soon for pickup at the store. Show your pickup code there.")
        return _("Paid. The shop is preparing your parcel.")
    if order.status in (S.SHIPPED, S.PARTIALLY_SHIPPED):
        return _("Your parcel is on its way.")
    if order.status == S.REFUNDED:
        return _("The money was refunded to where it came from.")
    if order.status == S.CANCELLED:
        return _("This order was cancelled.")
    return ""


def _visible(actor, order_id: int):
    order = (
        orders.orders_visible_to(actor)
        .filter(pk=order_id)
        .select_related("store")
        .prefetch_related(
            Prefetch("lines", queryset=_LINES),
            "history",
            "shipments",
        )
        .first()
    )
    if order is None:
        raise NotFound(_("Order not found."))
    return order


@shopper_required
def order_detail(request, order_id: int):
    actor = request.actor
    order = _visible(actor, order_id)
    cases = list(order.after_sales.prefetch_related("history", "lines").order_by("-id"))
    can_claim = order.status in AFTER_SALES_OPEN
    claims = orders.claimable(order) if can_claim else {}
    lines = list(order.lines.all())
    for line in lines:
        claim = claims.get(line.pk)
        line.claimable = claim.quantity if claim else 0
    context = {
        "title": _("Order details"),
        "order": order,
        "lines": lines,
        "cases": cases,
        "timeline": _timeline(order, cases),
        "status_hint": _status_hint(order),
        "can_pay": order.status == S.PENDING_PAYMENT,
        "can_confirm": order.status in (S.SHIPPED, S.DELIVERED) and not order.is_pickup,
        "can_claim": can_claim and any(line.claimable for line in lines),
        "back_url": reverse("mall:orders"),
    }
    return render_page(request, "mall/order_detail.html", context)


@shopper_required
def pay(request, order_id: int):
    """The order was placed: what to pay, until when, and the button to the payment provider."""
    order = _visible(request.actor, order_id)
    if order.status != S.PENDING_PAYMENT:
        return redirect("mall:order", order_id=order.pk)
    seconds_left = 0
    if order.payment_deadline:
        seconds_left = max(0, int((order.payment_deadline - timezone.now()).total_seconds()))
    detail_url = reverse("mall:order", args=[order.pk])
    return render_page(
        request,
        "mall/pay.html",
        {
            "title": _("Pay"),
            "order": order,
            "link_wechat_url": _link_wechat_url(request, order),
            "seconds_left": seconds_left,
            "pay_url": reverse("payments_h5:pay", args=[order.pk])
            + "?"
            + urlencode({"next": detail_url}),
            "back_url": detail_url,
        },
    )


def _link_wechat_url(request, order) -> str:
    """Inside WeChat, paying needs the shopper's openid; a shopper who logged in by phone first
    authorises WeChat (which links the openid to them) and comes back here."""
    from siyu.customers.queries import wechat_openid

    from .. import wechat_oauth

    if "MicroMessenger" not in request.headers.get("User-Agent", ""):
        return ""
    if wechat_oauth.get_adapter() is None or wechat_openid(order.customer_id):
        return ""
    back = reverse("mall:pay", args=[order.pk])
    return f"{reverse('mall:wechat_login')}?{urlencode({'next': back})}"


@shopper_required
@require_POST
def cancel(request, order_id: int):
    try:
        orders.cancel_order(order_id, actor=request.actor, reason=_("Cancelled by the shopper"))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The order was cancelled."))
    return redirect("mall:order", order_id=order_id)


@shopper_required
@require_POST
def confirm_receipt(request, order_id: int):
    try:
        orders.confirm_receipt(order_id, actor=request.actor)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you! The order is complete."))
    return redirect("mall:order", order_id=order_id)


# --- after-sales ---------------------------------------------------------------------------------


@shopper_required
def after_sale_new(request, order_id: int):
    actor = request.actor
    order = _visible(actor, order_id)
    if order.status not in AFTER_SALES_OPEN:
        messages.error(request, _("After-sales is not available for this order."))
        return redirect("mall:order", order_id=order.pk)
    claims = orders.claimable(order)
    lines = [ln for ln in order.lines.all() if claims.get(ln.pk) and claims[ln.pk].quantity]
    focus = request.GET.get("line")
    for line in lines:
        line.claim = claims[line.pk]
        line.chosen = (
            int(request.POST.get(f"qty_{line.pk}", 0) or 0)
            if request.method == "POST"
            else (line.claim.quantity if str(line.pk) == focus or len(lines) == 1 else 0)
        )
    shipped = any(line.claim.returnable for line in lines)
    kind = request.POST.get("kind") or (
        AfterSaleKind.RETURN_REFUND
        if shipped and order.status != S.PAID
        else AfterSaleKind.REFUND_ONLY
    )
    errors, problem = {}, ""
    if request.method == "POST":
        quantities = {line.pk: line.chosen for line in lines if line.chosen}
        try:
            case = orders.request_after_sale(
                order.pk,
                actor=actor,
                kind=kind,
                quantities=quantities,
                reason=request.POST.get("reason", ""),
                description=request.POST.get("description", ""),
            )
        except DomainError as exc:
            problem, errors = exc.message, exc.fields
        else:
            messages.success(request, _("Your request was sent. We will reply soon."))
            return redirect("mall:after_sale", case_id=case.pk)
    return render_page(
        request,
        "mall/after_sale_new.html",
        {
            "title": _("Request a refund"),
            "order": order,
            "lines": lines,
            "kind": kind,
            "kinds": AfterSaleKind.choices,
            "can_return": shipped,
            "reasons": SHOPPER_REASONS,
            "reason": request.POST.get("reason", ""),
            "description": request.POST.get("description", ""),
            "errors": errors,
            "problem": problem,
            "back_url": reverse("mall:order", args=[order.pk]),
        },
        status=422 if problem else 200,
    )


@shopper_required
def after_sales(request):
    cases = (
        _cases_of(request.actor)
        .select_related("order")
        .prefetch_related("lines__line")
        .order_by("-id")[:50]
    )
    return render_page(
        request,
        "mall/after_sales.html",
        {"title": _("After-sales"), "cases": cases, "back_url": reverse("mall:me")},
        tab="me",
    )


def _case(actor, case_id: int):
    case = (
        _cases_of(actor)
        .filter(pk=case_id)
        .select_related("order")
        .prefetch_related("lines__line", "history")
        .first()
    )
    if case is None:
        raise NotFound(_("After-sales request not found."))
    return case


@shopper_required
def after_sale(request, case_id: int):
    case = _case(request.actor, case_id)
    return render_page(
        request,
        "mall/after_sale.html",
        {
            "title": _("After-sales"),
            "case": case,
            "history": sorted(case.history.all(), key=lambda h: h.created_at, reverse=True),
            "status_labels": dict(AfterSaleStatus.choices),
            "can_withdraw": case.status
            in (AfterSaleStatus.REQUESTED, AfterSaleStatus.AWAITING_RETURN),
            "needs_return": case.status == AfterSaleStatus.AWAITING_RETURN,
            "back_url": reverse("mall:order", args=[case.order_id]),
        },
    )


@shopper_required
@require_POST
def after_sale_action(request, case_id: int):
    case = _case(request.actor, case_id)
    action = request.POST.get("action")
    try:
        if action == "withdraw":
            orders.withdraw_after_sale(case.pk, actor=request.actor)
            messages.success(request, _("Your request was withdrawn."))
        elif action == "return_shipped":
            orders.submit_return_tracking(
                case.pk,
                actor=request.actor,
                carrier=request.POST.get("carrier", ""),
                tracking_no=request.POST.get("tracking_no", ""),
            )
            messages.success(request, _("Thanks. We will refund once the parcel arrives."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("mall:after_sale", case_id=case.pk)
