"""Shopper login: phone + one-time SMS code, or WeChat web authorisation.

Codes are 6 digits, live `SIYU_LOGIN_CODE_TTL_SECONDS` (5 minutes), allow a few wrong tries, and
are stored only as a keyed hash compared in constant time. Sending is throttled per phone (a
minimum interval, an hourly and a daily cap) and per client IP; wrong tries are capped per code
and per IP. A successful login resolves (or creates) the customer through the customers service,
with the phone or the WeChat openid/unionid as strong identities and `mall` as the source.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from siyu.core import audit, crypto
from siyu.core.access import Actor
from siyu.core.errors import DomainError, ValidationFailed

from . import sms, throttle
from .models import LoginCode
from .wechat_oauth import WeChatProfile

log = logging.getLogger(__name__)

CODE_TEMPLATE = "login_code"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class TooManyRequests(DomainError):
    """Too many attempts. Please wait a moment and try again."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after: int, fields=None) -> None:
        super().__init__(message, fields={"retry_after": str(retry_after), **(fields or {})})
        self.retry_after = retry_after


class CodeRejected(DomainError):
    """The code is not right."""

    code = "code_rejected"
    status = 400


class SmsUnavailable(DomainError):
    """The SMS provider did not take the message."""

    code = "sms_unavailable"
    status = 503

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(
            message or _("We could not send the text message just now. Please try again soon."),
            **kwargs,
        )


@dataclass(frozen=True)
class CodeSent:
    phone: str
    expires_in: int
    resend_in: int


def _limits() -> dict:
    return {
        "ttl": settings.SIYU_LOGIN_CODE_TTL_SECONDS,
        "resend": settings.SIYU_LOGIN_CODE_RESEND_SECONDS,
        "attempts": settings.SIYU_LOGIN_CODE_MAX_ATTEMPTS,
        "phone_hour": settings.SIYU_LOGIN_CODES_PER_PHONE_HOUR,
        "phone_day": settings.SIYU_LOGIN_CODES_PER_PHONE_DAY,
        "ip_hour": settings.SIYU_LOGIN_CODES_PER_IP_HOUR,
        "ip_failures_hour": settings.SIYU_LOGIN_FAILURES_PER_IP_HOUR,
    }


def normalize_login_phone(raw: str | None) -> str:
    phone = crypto.normalize_phone(raw)
    if phone is None:
        raise ValidationFailed(
            _("Enter an 11-digit mainland China mobile number."),
            fields={"phone": _("Not a mobile number.")},
        )
    return phone


def _phone_hash(phone: str) -> str:
    return crypto.lookup_hash("mall-login-phone", phone)


def _code_hash(phone_hash: str, salt: str, code: str) -> str:
    return salted_hmac(
        "siyu.mall.login-code", f"{phone_hash}:{salt}:{code}", algorithm="sha256"
    ).hexdigest()


def _wait_message(seconds: int) -> str:
    if seconds < 120:
        return ngettext(
            "Please wait %(n)d second before asking for another code.",
            "Please wait %(n)d seconds before asking for another code.",
            seconds,
        ) % {"n": seconds}
    minutes = (seconds + 59) // 60
    return ngettext(
        "Too many codes requested. Please try again in %(n)d minute.",
        "Too many codes requested. Please try again in %(n)d minutes.",
        minutes,
    ) % {"n": minutes}


def send_login_code(raw_phone: str, *, ip: str) -> CodeSent:
    """Create a new code for the phone (voiding earlier ones) and text it to the phone."""
    phone = normalize_login_phone(raw_phone)
    limits = _limits()
    now = timezone.now()
    phone_hash = _phone_hash(phone)
    ip = ip or "unknown"
    code = f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(8)
    with transaction.atomic():
        checks = (
            ("code_phone_hour", phone, limits["phone_hour"], HOUR),
            ("code_phone_day", phone, limits["phone_day"], DAY),
            ("code_ip_hour", ip, limits["ip_hour"], HOUR),
        )
        for scope, key, limit, window in checks:
            if not throttle.hit(scope, key, limit=limit, window=window, now=now):
                wait = throttle.seconds_left(window, now)
                raise TooManyRequests(_wait_message(wait), retry_after=wait)
        last_sent = (
            LoginCode.objects.filter(phone_hash=phone_hash, send_failed=False)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if last_sent is not None:
            elapsed = (now - last_sent).total_seconds()
            if elapsed < limits["resend"]:
                wait = max(1, int(limits["resend"] - elapsed))
                raise TooManyRequests(_wait_message(wait), retry_after=wait)
        LoginCode.objects.filter(
            phone_hash=phone_hash, used_at__isnull=True, voided_at__isnull=True
        ).update(voided_at=now)
        row = LoginCode.objects.create(
            phone_hash=phone_hash,
            code_hash=_code_hash(phone_hash, salt, code),
            salt=salt,
            ip_hash=throttle.key_hash(ip),
            created_at=now,
            expires_at=now + timedelta(seconds=limits["ttl"]),
        )
    message = sms.SmsMessage(
        phone=phone, template=CODE_TEMPLATE, params={"code": code, "minutes": limits["ttl"] // 60}
    )
    try:
        message_id = sms.get_adapter().send(message)
    except sms.SmsError as exc:
        log.error("login code for %s not sent: %s", crypto.mask_phone(phone), exc)
        LoginCode.objects.filter(pk=row.pk).update(voided_at=timezone.now(), send_failed=True)
        raise SmsUnavailable() from exc
    LoginCode.objects.filter(pk=row.pk).update(provider_message_id=str(message_id)[:100])
    return CodeSent(phone=phone, expires_in=limits["ttl"], resend_in=limits["resend"])


def verify_login_code(raw_phone: str, code: str, *, ip: str) -> str:
    """Check the code; return the normalised phone when it is right. Each code works once."""
    phone = normalize_login_phone(raw_phone)
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        raise ValidationFailed(
            _("Enter the 6-digit code from the text message."),
            fields={"code": _("6 digits.")},
        )
    limits = _limits()
    now = timezone.now()
    ip = ip or "unknown"
    phone_hash = _phone_hash(phone)
    failure: DomainError | None = None
    with transaction.atomic():
        if throttle.count("verify_fail_ip", ip, window=HOUR, now=now) >= limits["ip_failures_hour"]:
            wait = throttle.seconds_left(HOUR, now)
            raise TooManyRequests(
                _("Too many wrong codes from your network. Please try again later."),
                retry_after=wait,
            )
        row = (
            LoginCode.objects.select_for_update()
            .filter(phone_hash=phone_hash, used_at__isnull=True, voided_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        # Hash even when there is no code, so timing does not tell whether one exists.
        expected = row.code_hash if row else _code_hash(phone_hash, "0" * 16, "x")
        computed = _code_hash(phone_hash, row.salt if row else "0" * 16, code)
        matches = constant_time_compare(expected, computed)
        if row is None:
            failure = CodeRejected(
                _("Request a code first, or request a new one."),
                code="code_missing",
                fields={"code": ""},
            )
        elif row.expires_at <= now:
            row.voided_at = now
            row.save(update_fields=["voided_at"])
            failure = CodeRejected(
                _("The code has expired. Please request a new one."),
                code="code_expired",
                fields={"code": ""},
            )
        elif matches:
            row.used_at = now
            row.save(update_fields=["used_at"])
        else:
            row.attempts += 1
            left = limits["attempts"] - row.attempts
            error_code = "code_wrong"
            if left <= 0:
                row.voided_at = now
                error_code = "code_locked"
                message = _("Too many wrong tries. Please request a new code.")
            else:
                message = ngettext(
                    "The code is not right. %(n)d try left.",
                    "The code is not right. %(n)d tries left.",
                    left,
                ) % {"n": left}
            row.save(update_fields=["attempts", "voided_at"])
            failure = CodeRejected(message, code=error_code, fields={"code": message})
        if failure is not None:
            # counted even past the limit: the window only needs to know it was reached
            throttle.hit("verify_fail_ip", ip, limit=2**31 - 1, window=HOUR, now=now)
    if failure is not None:
        raise failure
    return phone


# --- resolving the shopper ---------------------------------------------------------------------


def _register(contact) -> int:
    from siyu.customers import services as customers

    registration = customers.register_contact(contact, actor=Actor.system("mall-login"))
    return registration.customer.pk


def customer_for_phone(phone: str) -> int:
    """The customer who owns this phone, created (source: mall) when there is none."""
    from siyu.customers.services import ContactInput

    return _register(
        ContactInput(
            source="mall",
            phone=phone,
            source_detail="H5 mall: phone login",
            touch_ref="mall-login",
        )
    )


def customer_for_wechat(profile: WeChatProfile, *, linking_phone: str = "") -> int:
    """The customer behind this WeChat user (unionid, then openid), created when new.

    `linking_phone`: a shopper already logged in by phone authorises WeChat (to pay inside
    WeChat): the phone goes along, so the openid attaches to that customer; if the WeChat user is
    already another customer, the customers service keeps both and asks an operator to merge.
    """
    from siyu.customers.services import ContactInput

    identities = {"openid": profile.openid}
    if profile.unionid:
        identities["unionid"] = profile.unionid
    return _register(
        ContactInput(
            source="mall",
            name=profile.nickname,
            phone=linking_phone,
            identities=identities,
            source_detail="H5 mall: WeChat login",
            touch_ref="mall-login",
        )
    )


def record_login(customer_id: int, method: str) -> None:
    audit.record(
        Actor.for_customer(customer_id),
        "mall.login",
        object_type="customers.customer",
        object_id=customer_id,
        summary=method,
    )


def purge_expired(now=None) -> tuple[int, int]:
    """Delete login codes and throttle windows older than a day (they only matter for a day)."""
    from .models import LoginThrottle

    cutoff = (now or timezone.now()) - timedelta(days=2)
    codes, _ = LoginCode.objects.filter(created_at__lt=cutoff).delete()
    windows, _ = LoginThrottle.objects.filter(window_start__lt=cutoff).delete()
    return codes, windows
