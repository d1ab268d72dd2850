"""Shopper login and logout: phone + SMS code, WeChat web authorisation."""

from __future__ import annotations

import json
import secrets

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.core.errors import DomainError, ValidationFailed

from .. import login as login_service
from .. import wechat_oauth
from ..profile import shopper_profile
from ..sessions import login_shopper, logout_shopper, shopper_actor
from .common import client_ip, render_page, safe_next

WECHAT_STATE_KEY = "wechat_oauth_state"
WECHAT_NEXT_KEY = "wechat_oauth_next"


def _login_context(request, **extra) -> dict:
    context = {
        "title": _("Log in"),
        "next": safe_next(request, request.POST.get("next") or request.GET.get("next")),
        "phone": request.POST.get("phone", ""),
        "wechat_enabled": wechat_oauth.get_adapter() is not None,
        "privacy_url": reverse("mall:privacy"),
        "errors": {},
        "back_url": reverse("mall:home"),
    }
    context.update(extra)
    return context


def login(request):
    """GET: the form. POST action=send: text a code (no-JS path). POST action=login: verify."""
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET" and shopper_actor(request).kind == "customer":
        return redirect(next_url)
    if request.method != "POST":
        return render_page(request, "mall/login.html", _login_context(request))
    if request.POST.get("action") == "send":
        return _send_code(request, full_page=True)
    try:
        phone = login_service.verify_login_code(
            request.POST.get("phone", ""), request.POST.get("code", ""), ip=client_ip(request)
        )
    except DomainError as exc:
        errors = {"phone": exc.fields["phone"]} if "phone" in exc.fields else {}
        return render_page(
            request,
            "mall/login.html",
            _login_context(request, errors=errors, code_error=exc.message),
            status=exc.status if exc.status != 404 else 400,
        )
    customer_id = login_service.customer_for_phone(phone)
    login_shopper(request, customer_id, method="sms")
    login_service.record_login(customer_id, "sms")
    return redirect(next_url)


@require_POST
def send_code(request):
    """htmx: text a code and answer with the status line (and a countdown trigger)."""
    return _send_code(request, full_page=not request.htmx)


def _send_code(request, *, full_page: bool):
    code_error = code_sent = ""
    resend_in = 0
    status = 200
    try:
        sent = login_service.send_login_code(request.POST.get("phone", ""), ip=client_ip(request))
    except DomainError as exc:
        code_error = exc.message
        status = exc.status
        resend_in = getattr(exc, "retry_after", 0) if exc.status == 429 else 0
    else:
        resend_in = sent.resend_in
        code_sent = _(
            "A 6-digit code was sent to %(phone)s. It is valid for %(minutes)d minutes."
        ) % {
            "phone": f"{sent.phone[:3]}****{sent.phone[-4:]}",
            "minutes": sent.expires_in // 60,
        }
    context = {"code_error": code_error, "code_sent": code_sent, "resend_in": resend_in}
    if full_page:
        return render_page(
            request, "mall/login.html", _login_context(request, **context), status=status
        )
    response = render_page(request, "mall/_code_status.html", context)
    if resend_in and resend_in <= 120:
        response["HX-Trigger"] = json.dumps({"codeSent": {"wait": resend_in}})
    return response


@require_POST
def logout(request):
    logout_shopper(request)
    messages.info(request, _("You are logged out."))
    return redirect("mall:home")


# --- WeChat ------------------------------------------------------------------------------------


def wechat_login(request):
    """Send the browser to WeChat's authorise page with a one-time state bound to this session."""
    adapter = wechat_oauth.get_adapter()
    if adapter is None:
        raise ValidationFailed(_("WeChat login is not available."))
    state = secrets.token_urlsafe(16)
    request.session[WECHAT_STATE_KEY] = state
    request.session[WECHAT_NEXT_KEY] = safe_next(request, request.GET.get("next"))
    callback = request.build_absolute_uri(reverse("mall:wechat_callback"))
    return HttpResponseRedirect(adapter.authorize_url(callback, state))


def wechat_callback(request):
    adapter = wechat_oauth.get_adapter()
    expected = request.session.pop(WECHAT_STATE_KEY, None)
    next_url = request.session.pop(WECHAT_NEXT_KEY, None) or reverse("mall:home")
    state = request.GET.get("state", "")
    if adapter is None or not expected or not constant_time_compare(expected, state):
        messages.error(request, _("The WeChat login expired or was not started here. Try again."))
        return redirect("mall:login")
    code = request.GET.get("code", "")
    if not code:  # the person tapped "refuse"
        messages.info(request, _("WeChat login was cancelled."))
        return redirect("mall:login")
    try:
        profile = adapter.exchange(code)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("mall:login")
    current = shopper_actor(request)
    linking_phone = ""
    if current.kind == "customer":
        linking_phone = shopper_profile(current).phone
    customer_id = login_service.customer_for_wechat(profile, linking_phone=linking_phone)
    login_shopper(request, customer_id, method="wechat")
    login_service.record_login(customer_id, "wechat")
    return redirect(safe_next(request, next_url))


def wechat_fake_authorize(request):
    """Development stand-in for open.weixin.qq.com's authorise page (SIYU_WECHAT_OAUTH=fake)."""
    adapter = wechat_oauth.get_adapter()
    if adapter is None or not adapter.is_fake:
        return HttpResponse(status=404)
    query = request.GET.dict()
    redirect_uri = query.get("redirect_uri", "")
    if not url_has_allowed_host_and_scheme(redirect_uri, allowed_hosts={request.get_host()}):
        raise ValidationFailed(_("The redirect address is not on this site."))
    if request.method == "POST":
        if request.POST.get("decision") != "allow":
            return HttpResponseRedirect(
                f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}state={query.get('state', '')}"
            )
        account = (request.POST.get("account") or "").strip()[:40] or "微信用户"
        return HttpResponseRedirect(wechat_oauth.fake_authorize_redirect(query, account))
    return render_page(
        request,
        "mall/wechat_fake_authorize.html",
        {"title": _("WeChat authorisation"), "scope": query.get("scope", "snsapi_base")},
    )


def privacy(request):
    return render_page(
        request,
        "mall/privacy.html",
        {"title": _("Privacy policy"), "back_url": "javascript:history.back()"},
    )
