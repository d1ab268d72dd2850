"""Console pages for orders: the list (mall and imported platform orders together), the order
page with its timeline and actions, the after-sales queue and drop-ship purchase orders."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.catalog.models import Supplier
from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.money import BadAmount, yuan_to_fen
from siyu.core.pagination import page_from_request
from siyu.staff.models import Store

from . import presenters, services
from .models import (
    AfterSaleKind,
    AfterSaleReason,
    AfterSaleStatus,
    Channel,
    DeliveryMethod,
    OrderStatus,
    Platform,
    PurchaseOrderStatus,
)
from .states import AFTER_SALE_OPEN, ORDER_TRANSITIONS

CARRIERS = [
    "顺丰速运",
    "中通快递",
    "圆通速递",
    "韵达快递",
    "申通快递",
    "京东物流",
    "EMS",
    "极兔速递",
]


@login_required
def order_list(request):
    actor = actor_from_request(request)
    filters = services.OrderFilters.from_params(request.GET)
    qs = services.filter_orders(actor, filters).select_related("customer", "store")
    page = page_from_request(request, qs.prefetch_related("lines"))
    return render(
        request,
        "orders/list.html",
        {
            "title": _("Orders"),
            "page": page,
            "filters": filters,
            "statuses": OrderStatus.choices,
            "channels": Channel.choices,
            "platforms": Platform.choices,
            "methods": DeliveryMethod.choices,
            "stores": Store.objects.all()
            if actor.sees_all_stores
            else Store.objects.filter(pk=actor.store_id),
            "shows_pii": actor.can("customers.view_pii"),
        },
    )


@login_required
def order_detail(request, order_id: int):
    actor = actor_from_request(request)
    order = (
        presenters.detail_queryset(services.orders_visible_to(actor)).filter(pk=order_id).first()
    )
    if order is None:
        services.visible_order(actor, order_id)  # NotFound
    detail = presenters.order_detail(order, actor)
    lines_by_id = {ln["id"]: ln for ln in detail["lines"]}
    shippable = services.shippable_quantities(order)
    allowed = ORDER_TRANSITIONS.get(order.status, frozenset())
    from siyu.core.apps import siyu_configs

    panels = []
    for config in siyu_configs():
        hook = getattr(config, "order_panels", None)
        if hook:
            panels.extend(hook(actor, order))
    return render(
        request,
        "orders/detail.html",
        {
            "title": _("Order %(number)s") % {"number": order.number},
            "order": order,
            "d": detail,
            "shippable": [(lines_by_id[pk], qty) for pk, qty in shippable.items() if qty > 0],
            "can_ship": actor.can("orders.ship")
            and order.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED)
            and not order.is_imported
            and not order.fulfilment_hold,
            "can_deliver": actor.can("orders.ship")
            and OrderStatus.DELIVERED in allowed
            and order.status == OrderStatus.SHIPPED,
            "can_cancel": actor.can("orders.cancel")
            and order.status == OrderStatus.PENDING_PAYMENT,
            "can_refund": actor.can("orders.refund")
            and order.paid_fen > order.refunded_fen
            and not order.is_imported,
            "carriers": CARRIERS,
            "reasons": AfterSaleReason.choices,
            "kinds": AfterSaleKind.choices,
            "panels": panels,
            "show_cost": actor.can("catalog.view_cost"),
        },
    )


def _back(order_id: int):
    return redirect("orders:detail", order_id)


def _quantities(post, prefix: str) -> dict[int, int]:
    out = {}
    for key, value in post.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit() and value.strip():
            try:
                out[int(key[len(prefix) :])] = int(value)
            except ValueError:
                continue
    return out


@login_required
@require_POST
def order_action(request, order_id: int, action: str):
    actor = actor_from_request(request)
    post = request.POST
    try:
        if action == "ship":
            services.ship(
                order_id,
                actor=actor,
                carrier=post.get("carrier", ""),
                tracking_no=post.get("tracking_no", ""),
                quantities=_quantities(post, "ship_"),
            )
            messages.success(request, _("Shipped."))
        elif action == "pickup":
            services.hand_over_pickup(
                order_id, actor=actor, pickup_code=post.get("pickup_code", "")
            )
            messages.success(request, _("Handed over to the shopper."))
        elif action == "deliver":
            services.mark_delivered(order_id, actor=actor, note=post.get("note", ""))
            messages.success(request, _("Marked as delivered."))
        elif action == "cancel":
            services.cancel_order(
                order_id,
                actor=actor,
                reason=post.get("reason", "").strip() or _("Cancelled by staff"),
            )
            messages.success(request, _("Order cancelled; its stock is available again."))
        elif action == "refund":
            amounts = {}
            for pk, raw in (
                (k[7:], v) for k, v in post.items() if k.startswith("amount_") and v.strip()
            ):
                try:
                    amounts[int(pk)] = yuan_to_fen(raw)
                except (BadAmount, ValueError):
                    messages.error(request, _("Enter refund amounts in yuan, like 12.50."))
                    return _back(order_id)
            case = services.request_after_sale(
                order_id,
                actor=actor,
                kind=post.get("kind", AfterSaleKind.REFUND_ONLY),
                quantities=_quantities(post, "refund_"),
                amounts=amounts or None,
                reason=post.get("reason", AfterSaleReason.MERCHANT),
                description=post.get("note", ""),
            )
            services.approve_after_sale(case.pk, actor=actor, note=post.get("note", ""))
            messages.success(request, _("Refund %(number)s requested.") % {"number": case.number})
        else:
            messages.error(request, _("Unknown action."))
    except DomainError as exc:
        details = (
            "; ".join(f"{v}" for v in exc.fields.values() if isinstance(v, str))
            if exc.fields
            else ""
        )
        messages.error(request, f"{exc.message} {details}".strip())
    return _back(order_id)


# --- after-sales ---------------------------------------------------------------------------------


@login_required
def after_sales(request):
    actor = actor_from_request(request)
    authorize(actor, "orders.refund")
    status = request.GET.get("status", "open")
    qs = services.after_sales_for_staff(actor).prefetch_related("lines__line")
    if status == "open":
        qs = qs.filter(status__in=AFTER_SALE_OPEN)
    elif status:
        qs = qs.filter(status=status)
    page = page_from_request(request, qs)
    return render(
        request,
        "orders/after_sales.html",
        {
            "title": _("After-sales"),
            "page": page,
            "status": status,
            "statuses": AfterSaleStatus.choices,
        },
    )


@login_required
@require_POST
def after_sale_action(request, case_id: int, action: str):
    actor = actor_from_request(request)
    note = request.POST.get("note", "")
    try:
        if action == "approve":
            services.approve_after_sale(case_id, actor=actor, note=note)
            messages.success(request, _("Approved."))
        elif action == "reject":
            services.reject_after_sale(case_id, actor=actor, note=note)
            messages.success(request, _("Rejected; the shopper sees your reason."))
        elif action == "receive":
            services.receive_return(
                case_id, actor=actor, restock=request.POST.get("restock") == "1", note=note
            )
            messages.success(request, _("Return received; the refund is on its way."))
        elif action == "retry":
            services.retry_refund(case_id, actor=actor)
            messages.success(request, _("Refund requested again."))
        else:
            messages.error(request, _("Unknown action."))
    except DomainError as exc:
        messages.error(request, exc.message)
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/console/") else "orders:after_sales")


# --- purchase orders -------------------------------------------------------------------------


@login_required
def purchase_orders(request):
    actor = actor_from_request(request)
    qs = services.purchase_orders_for_staff(actor).prefetch_related("lines__line")
    supplier = request.GET.get("supplier", "")
    status = request.GET.get("status", "")
    if supplier.isdigit():
        qs = qs.filter(supplier_id=int(supplier))
    if status:
        qs = qs.filter(status=status)
    page = page_from_request(request, qs)
    from django.db.models import Count

    pending = dict(
        services.purchase_orders_for_staff(actor)
        .filter(status=PurchaseOrderStatus.PENDING)
        .values("supplier_id")
        .annotate(n=Count("id"))
        .values_list("supplier_id", "n")
    )
    return render(
        request,
        "orders/purchase_orders.html",
        {
            "title": _("Purchase orders"),
            "page": page,
            "suppliers": [(s, pending.get(s.pk, 0)) for s in Supplier.objects.all()],
            "statuses": PurchaseOrderStatus.choices,
            "result": request.session.pop("tracking_import", None),
        },
    )


@login_required
def purchase_orders_export(request):
    actor = actor_from_request(request)
    supplier = request.GET.get("supplier", "")
    if not supplier.isdigit():
        messages.error(request, _("Choose a supplier."))
        return redirect("orders:purchase_orders")
    filename, text, count = services.export_purchase_orders(
        int(supplier), actor=actor, include_sent=request.GET.get("include_sent") == "1"
    )
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_POST
def purchase_orders_import(request):
    actor = actor_from_request(request)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("Choose the CSV file the supplier sent back."))
        return redirect("orders:purchase_orders")
    try:
        result = services.import_tracking(upload, actor=actor)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("orders:purchase_orders")
    messages.success(
        request,
        _(
            "%(shipped)s purchase orders shipped, %(unchanged)s already shipped, %(errors)s problems."
        )
        % {
            "shipped": len(result.shipped),
            "unchanged": len(result.unchanged),
            "errors": len(result.errors),
        },
    )
    request.session["tracking_import"] = {"errors": [f"{n}: {m}" for n, m in result.errors][:50]}
    return redirect("orders:purchase_orders")
