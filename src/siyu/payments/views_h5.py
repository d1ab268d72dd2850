"""Storefront-facing pages and endpoints: the notification endpoint the provider calls, the pay
entry for an order, the payment result page, and the dev provider's cashier."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from siyu.core.errors import DomainError, PermissionDenied
from siyu.mall.sessions import shopper_required

from . import devpay, services
from .errors import ProviderError
from .models import Method, Payment, Provider
from .states import PaymentStatus

log = logging.getLogger("siyu.payments")


@csrf_exempt
@require_POST
def notify(request, provider: str):
    """WeChat Pay's notify_url: 204 when handled (or already handled), 4xx/5xx with WeChat's
    failure body {"code": "FAIL", "message": ...} otherwise, which makes WeChat Pay retry."""
    if provider not in Provider.values or (
        provider == Provider.DEV and not settings.SIYU_DEV_PAY_ALLOWED
    ):
        return JsonResponse({"code": "FAIL", "message": "unknown endpoint"}, status=404)
    answer = services.receive_notification(
        provider, request.headers, request.body, remote_addr=request.META.get("REMOTE_ADDR")
    )
    if answer.ok:
        return HttpResponse(status=204)
    return JsonResponse(
        {"code": "FAIL", "message": answer.message or "failed"}, status=answer.http_status
    )


def _safe_next(request, url: str) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _choose_method(request) -> str:
    wanted = request.GET.get("method") or request.POST.get("method")
    if wanted in Method.values:
        return wanted
    agent = request.headers.get("User-Agent", "")
    if "miniProgram" in agent:
        return Method.MINIPROGRAM
    if "MicroMessenger" in agent:
        return Method.JSAPI
    return Method.H5


def _client_ip(request) -> str:
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


@require_http_methods(["GET", "POST"])
@shopper_required
def pay(request, order_id: int):
    """Pay an order: opens the attempt and sends the shopper to the provider's payment page (H5),
    or runs WeChat's in-app payment sheet (JSAPI). Anonymous shoppers log in first."""
    actor = request.actor
    if actor.kind != "customer":
        raise PermissionDenied(_("Log in to pay for your order."))
    method = _choose_method(request)
    next_url = _safe_next(request, request.GET.get("next", ""))
    # The result page's absolute address: WeChat's H5 page sends the shopper back there whether or
    # not they paid, and the page then waits for (or asks for) the provider's confirmation.
    landing = request.build_absolute_uri(reverse("payments_h5:result", args=["__no__"]))
    start = services.start_payment(
        order_id,
        method=method,
        actor=actor,
        client_ip=_client_ip(request),
        return_url=next_url,
        landing_url=landing.replace("__no__", "{out_trade_no}"),
    )
    payment = start.payment
    result_url = reverse("payments_h5:result", args=[payment.out_trade_no])
    if start.launch.redirect_url:
        return HttpResponseRedirect(start.launch.redirect_url)
    return render(
        request,
        "payments/h5/jsapi.html",
        {
            "payment": payment,
            "params": start.launch.jsapi_params,
            "result_url": result_url,
            "title": _("Pay"),
        },
    )


def result(request, out_trade_no: str):
    """Where the shopper lands after paying: waits for the provider's confirmation."""
    payment = services.payment_for_result_page(out_trade_no)
    return render(
        request,
        "payments/h5/result.html",
        {"payment": payment, "title": _("Payment result"), **_result_context(payment)},
    )


def result_status(request, out_trade_no: str):
    """Polled by the result page. A payment still unconfirmed a few seconds after the shopper came
    back is asked about (at most every 5 s), as WeChat Pay asks merchants to."""
    payment = services.payment_for_result_page(out_trade_no)
    now = timezone.now()
    if payment.status == PaymentStatus.PENDING and payment.created_at < now - timedelta(seconds=5):
        stale = now - timedelta(seconds=5)
        claimed = Payment.objects.filter(pk=payment.pk, status=PaymentStatus.PENDING).filter(
            last_synced_at__isnull=True
        ).update(last_synced_at=now) or Payment.objects.filter(
            pk=payment.pk, status=PaymentStatus.PENDING, last_synced_at__lt=stale
        ).update(last_synced_at=now)
        if claimed:
            try:
                services.sync_payment(payment.pk, actor=services.system_actor("result page"))
            except DomainError as exc:
                log.info("result page query for %s failed: %s", out_trade_no, exc)
            payment.refresh_from_db()
    return render(
        request,
        "payments/h5/_result_status.html",
        {"payment": payment, **_result_context(payment)},
    )


def _result_context(payment: Payment) -> dict:
    return {
        "done": payment.status != PaymentStatus.PENDING,
        "paid": payment.status == PaymentStatus.SUCCEEDED,
        "refunding": payment.status in (PaymentStatus.RECEIVED_CLOSED, PaymentStatus.REFUNDED)
        and not payment.applied_to_order,
        "return_url": payment.return_url,
    }


# --- the dev provider's cashier -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def dev_cashier(request):
    """The dev provider's stand-in for WeChat's payment page."""
    if not settings.SIYU_DEV_PAY_ALLOWED:
        raise Http404()
    prepay_id = request.GET.get("prepay_id", "")
    trade = devpay.trade_for_prepay(prepay_id) if prepay_id else None
    if trade is None:
        raise Http404()
    redirect_url = _safe_next(request, request.GET.get("redirect_url", ""))
    back = redirect_url or reverse("payments_h5:result", args=[trade.out_trade_no])
    error = ""
    if request.method == "POST":
        if request.POST.get("action") == "cancel":
            return HttpResponseRedirect(back)
        try:
            devpay.pay(prepay_id)
        except ProviderError as exc:
            error = exc.message
        else:
            return HttpResponseRedirect(back)
        trade.refresh_from_db()
    return render(
        request,
        "payments/h5/dev_cashier.html",
        {
            "trade": trade,
            "error": error,
            "expired": trade.time_expire <= timezone.now(),
            "title": _("WeChat Pay (dev)"),
        },
    )
