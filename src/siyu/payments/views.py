"""Console pages: payments, refunds and received notifications, with "query provider now"."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core import crypto
from siyu.core.access import actor_from_request, authorize
from siyu.core.errors import DomainError
from siyu.core.pagination import page_from_request

from . import services
from .models import (
    Method,
    NotificationLog,
    Payment,
    Provider,
    RefundOrigin,
)
from .states import NotificationStatus, PaymentStatus, RefundStatus


def _day_range(request, qs, field: str):
    tz = timezone.get_current_timezone()
    if start := parse_date(request.GET.get("from") or ""):
        qs = qs.filter(**{f"{field}__gte": datetime.combine(start, time.min, tzinfo=tz)})
    if end := parse_date(request.GET.get("to") or ""):
        qs = qs.filter(
            **{f"{field}__lt": datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)}
        )
    return qs


def filter_payments(request, qs):
    if (status := request.GET.get("status")) in PaymentStatus.values:
        qs = qs.filter(status=status)
    if (provider := request.GET.get("provider")) in Provider.values:
        qs = qs.filter(provider=provider)
    if (method := request.GET.get("method")) in Method.values:
        qs = qs.filter(method=method)
    if q := (request.GET.get("q") or "").strip():
        qs = qs.filter(
            Q(out_trade_no=q) | Q(transaction_id=q) | Q(order__number=q) | Q(prepay_id=q)
        )
    if request.GET.get("refunded") == "1":
        qs = qs.filter(refunded_fen__gt=0)
    return _day_range(request, qs, "created_at")


def filter_refunds(request, qs):
    if (status := request.GET.get("status")) in RefundStatus.values:
        qs = qs.filter(status=status)
    if (origin := request.GET.get("origin")) in RefundOrigin.values:
        qs = qs.filter(origin=origin)
    if q := (request.GET.get("q") or "").strip():
        qs = qs.filter(
            Q(out_refund_no=q)
            | Q(refund_key=q)
            | Q(refund_id=q)
            | Q(order__number=q)
            | Q(payment__out_trade_no=q)
        )
    return _day_range(request, qs, "created_at")


@login_required
def payment_list(request):
    actor = actor_from_request(request)
    qs = filter_payments(request, services.visible_payments(actor))
    return render(
        request,
        "payments/console/list.html",
        {
            "title": _("Payments"),
            "tab": "payments",
            "page": page_from_request(request, qs),
            "statuses": PaymentStatus.choices,
            "providers": Provider.choices,
            "methods": Method.choices,
            "can_manage": actor.can("payments.manage"),
        },
    )


@login_required
def payment_detail(request, payment_id: int):
    actor = actor_from_request(request)
    payment = get_object_or_404(
        services.visible_payments(actor).select_related("customer"), pk=payment_id
    )
    return render(
        request,
        "payments/console/detail.html",
        {
            "title": _("Payment %(no)s") % {"no": payment.out_trade_no},
            "tab": "payments",
            "payment": payment,
            "customer_label": _customer_label(actor, payment.customer),
            "order_url": _order_url(payment.order_id),
            "history": payment.history.all(),
            "refunds": payment.refunds.all().order_by("-created_at"),
            "notifications": payment.notifications.order_by("-received_at")[:50],
            "siblings": Payment.objects.filter(order_id=payment.order_id)
            .exclude(pk=payment.pk)
            .order_by("-created_at"),
            "can_manage": actor.can("payments.manage"),
        },
    )


def _order_url(order_id: int) -> str:
    """The order's console page, when the orders app provides one."""
    try:
        return reverse("orders:detail", args=[order_id])
    except NoReverseMatch:
        return ""


def _customer_label(actor, customer) -> str:
    name = customer.name or f"#{customer.pk}"
    if actor.can("customers.view_pii") or not customer.name:
        return name
    return crypto.mask_name(customer.name)


@login_required
@require_POST
def payment_sync(request, payment_id: int):
    actor = actor_from_request(request)
    authorize(actor, "payments.manage")
    try:
        outcome = services.sync_payment(payment_id, actor=actor)
    except DomainError as exc:
        messages.error(request, _("The provider could not be asked: %(e)s") % {"e": exc.message})
    else:
        payment = Payment.objects.get(pk=payment_id)
        messages.success(
            request,
            _("Asked the provider: the payment is %(status)s.")
            % {"status": payment.get_status_display()}
            + (f" ({outcome.reason})" if outcome.reason else ""),
        )
    return redirect("payments:detail", payment_id=payment_id)


@login_required
def refund_list(request):
    actor = actor_from_request(request)
    qs = filter_refunds(request, services.visible_refunds(actor))
    return render(
        request,
        "payments/console/refunds.html",
        {
            "title": _("Refunds"),
            "tab": "refunds",
            "page": page_from_request(request, qs),
            "statuses": RefundStatus.choices,
            "origins": RefundOrigin.choices,
        },
    )


@login_required
def refund_detail(request, refund_id: int):
    actor = actor_from_request(request)
    refund = get_object_or_404(services.visible_refunds(actor), pk=refund_id)
    return render(
        request,
        "payments/console/refund_detail.html",
        {
            "title": _("Refund %(no)s") % {"no": refund.out_refund_no},
            "tab": "refunds",
            "refund": refund,
            "order_url": _order_url(refund.order_id),
            "history": refund.history.all(),
            "notifications": refund.notifications.order_by("-received_at")[:50],
            "can_manage": actor.can("payments.manage"),
        },
    )


@login_required
@require_POST
def refund_sync(request, refund_id: int):
    actor = actor_from_request(request)
    authorize(actor, "payments.manage")
    try:
        refund = services.sync_refund(refund_id, actor=actor)
    except DomainError as exc:
        messages.error(request, _("The provider could not be asked: %(e)s") % {"e": exc.message})
    else:
        messages.success(
            request,
            _("Asked the provider: the refund is %(status)s.")
            % {"status": refund.get_status_display()},
        )
    return redirect("payments:refund_detail", refund_id=refund_id)


@login_required
def notification_list(request):
    actor = actor_from_request(request)
    services.require_view(actor)
    qs = NotificationLog.objects.all()
    if (status := request.GET.get("status")) in NotificationStatus.values:
        qs = qs.filter(status=status)
    if (provider := request.GET.get("provider")) in Provider.values:
        qs = qs.filter(provider=provider)
    if reason := (request.GET.get("reason") or "").strip():
        qs = qs.filter(reason=reason)
    if q := (request.GET.get("q") or "").strip():
        qs = qs.filter(
            Q(notification_id=q) | Q(out_trade_no=q) | Q(out_refund_no=q) | Q(event_type=q)
        )
    qs = _day_range(request, qs, "received_at")
    return render(
        request,
        "payments/console/notifications.html",
        {
            "title": _("Payment notifications"),
            "tab": "notifications",
            "page": page_from_request(request, qs),
            "statuses": NotificationStatus.choices,
            "providers": Provider.choices,
        },
    )


@login_required
def notification_detail(request, notification_id: int):
    actor = actor_from_request(request)
    services.require_view(actor)
    entry = get_object_or_404(NotificationLog, pk=notification_id)
    return render(
        request,
        "payments/console/notification_detail.html",
        {
            "title": _("Notification #%(id)s") % {"id": entry.pk},
            "tab": "notifications",
            "entry": entry,
            "history": entry.history.all(),
        },
    )
