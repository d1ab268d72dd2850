"""A local stand-in for WeChat Pay, for the demo and the tests (the `dev` provider).

It keeps its own ledger (DevTrade, DevRefund) and answers the same API calls with the same payload
shapes and error codes as WeChat Pay API v3. A shopper "pays" on its cashier page; it then owes us
a TRANSACTION.SUCCESS notification, signed with its platform key and AES-256-GCM encrypted with
the APIv3 key, and retries it on WeChat Pay's schedule (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/
3h/3h/6h/6h, about 24 hours) until our endpoint answers 2xx. Refunds settle after
SIYU_DEV_PAY_REFUND_SECONDS with a REFUND.SUCCESS notification.

No money moves; SIYU_DEV_PAY_ALLOWED keeps it out of production.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import wechat_wire as wire
from .errors import ProviderError
from .models import DevNotification, DevRefund, DevTrade

log = logging.getLogger("siyu.payments.devpay")

MCHID = "1900000000"
APPID = "wx0000000000de5a1"
# WeChat Pay's notification retry intervals after a failed delivery (about 24 hours in all).
RETRY_SCHEDULE = (
    timedelta(seconds=15),
    timedelta(seconds=15),
    timedelta(seconds=30),
    timedelta(minutes=3),
    timedelta(minutes=10),
    timedelta(minutes=20),
    timedelta(minutes=30),
    timedelta(minutes=30),
    timedelta(minutes=30),
    timedelta(minutes=60),
    timedelta(hours=3),
    timedelta(hours=3),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=6),
)
DELIVERY_LEASE = timedelta(minutes=2)
PAID_STATES = ("SUCCESS", "REFUND")


# --- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevKeys:
    platform_key_pem: str
    merchant_key_pem: str

    @property
    def platform_key(self):
        return _load(self.platform_key_pem)

    @property
    def platform_public_pem(self) -> str:
        return wire.public_pem(self.platform_key)

    @property
    def public_key_id(self) -> str:
        digest = hashlib.sha256(self.platform_public_pem.encode()).hexdigest()[:20].upper()
        return f"PUB_KEY_ID_DEV{digest}"

    @property
    def merchant_serial(self) -> str:
        public = wire.public_pem(_load(self.merchant_key_pem))
        return hashlib.sha256(public.encode()).hexdigest()[:40].upper()


@lru_cache(maxsize=16)
def _load(pem: str):
    return wire.load_private(pem)


def _key_file(directory: Path, name: str) -> str:
    """Read a PEM key, creating it on first use. Web server and worker share the file; creating it
    through a hard link makes the first writer win when both start at once."""
    path = directory / name
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False) as tmp:
            tmp.write(wire.private_pem(wire.generate_key()))
        os.chmod(tmp.name, 0o600)
        try:
            os.link(tmp.name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp.name)
    return path.read_text()


def keys() -> DevKeys:
    directory = Path(settings.SIYU_DEV_PAY_KEY_DIR)
    return _keys_in(str(directory))


@lru_cache(maxsize=4)
def _keys_in(directory: str) -> DevKeys:
    path = Path(directory)
    return DevKeys(_key_file(path, "platform_key.pem"), _key_file(path, "merchant_key.pem"))


def apiv3_key() -> str:
    """32 characters derived from SECRET_KEY, so web server and worker agree without a file."""
    raw = HKDF(algorithm=hashes.SHA256(), length=24, salt=b"siyu", info=b"devpay-apiv3").derive(
        settings.SECRET_KEY.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


# --- WeChat Pay API v3, as the dev provider answers it --------------------------------------------


def _error(http_status: int, code: str, message: str) -> ProviderError:
    transient = http_status >= 500
    return ProviderError(message, provider_code=code, http_status=http_status, transient=transient)


def _trade_type(pay_type) -> str:
    name = getattr(pay_type, "name", str(pay_type))
    return "MWEB" if name == "H5" else "JSAPI"


def cashier_path(prepay_id: str) -> str:
    return f"{reverse('payments_h5:dev_cashier')}?{urlencode({'prepay_id': prepay_id})}"


def trade_payload(trade: DevTrade) -> dict:
    payload = {
        "appid": trade.appid,
        "mchid": trade.mchid,
        "out_trade_no": trade.out_trade_no,
        "trade_type": trade.trade_type,
        "trade_state": trade.state,
        "trade_state_desc": {
            "SUCCESS": "支付成功",
            "REFUND": "转入退款",
            "NOTPAY": "未支付",
            "CLOSED": "已关闭",
            "PAYERROR": "支付失败",
        }.get(trade.state, trade.state),
        "amount": {"total": trade.amount_fen, "currency": "CNY"},
    }
    if trade.state in PAID_STATES:
        payload.update(
            {
                "transaction_id": trade.transaction_id,
                "bank_type": "OTHERS",
                "attach": "",
                "success_time": wire.china_time(trade.success_time),
                "payer": {"openid": f"o-dev-{trade.out_trade_no[-8:]}"},
            }
        )
        payload["amount"].update({"payer_total": trade.amount_fen, "payer_currency": "CNY"})
    return payload


def api_pay(
    *,
    description: str,
    out_trade_no: str,
    amount: dict,
    notify_url: str | None = None,
    appid: str | None = None,
    pay_type=None,
    time_expire: str | None = None,
    payer: dict | None = None,
    scene_info: dict | None = None,
    **_ignored,
) -> dict:
    total = amount.get("total") if isinstance(amount, dict) else None
    if not isinstance(total, int) or total <= 0 or amount.get("currency", "CNY") != "CNY":
        raise _error(400, "PARAM_ERROR", "amount.total 必须为正整数（分）")
    if not (6 <= len(out_trade_no) <= 32):
        raise _error(400, "PARAM_ERROR", "out_trade_no 长度应为 6-32")
    trade_type = _trade_type(pay_type)
    if trade_type == "JSAPI" and not (payer or {}).get("openid"):
        raise _error(400, "PARAM_ERROR", "JSAPI 支付缺少 payer.openid")
    if trade_type == "MWEB" and not (scene_info or {}).get("payer_client_ip"):
        raise _error(400, "PARAM_ERROR", "H5 支付缺少 scene_info.payer_client_ip")
    expire = parse_datetime(time_expire) if time_expire else None
    expire = expire or timezone.now() + timedelta(hours=2)
    trade = DevTrade.objects.filter(out_trade_no=out_trade_no).first()
    if trade is None:
        try:
            with transaction.atomic():
                trade = DevTrade.objects.create(
                    out_trade_no=out_trade_no,
                    prepay_id="wx" + timezone.now().strftime("%d%H%M%S") + secrets.token_hex(12),
                    appid=appid or APPID,
                    mchid=MCHID,
                    trade_type=trade_type,
                    description=description[:127],
                    amount_fen=total,
                    notify_url=notify_url or "",
                    time_expire=expire,
                )
        except IntegrityError:
            trade = DevTrade.objects.get(out_trade_no=out_trade_no)
    if trade.state in PAID_STATES:
        raise _error(400, "ORDERPAID", "该订单已支付")
    if trade.state == "CLOSED":
        raise _error(400, "ORDER_CLOSED", "该订单已关闭")
    if trade.amount_fen != total or trade.trade_type != trade_type:
        raise _error(400, "INVALID_REQUEST", "201 商户订单号重复")
    if trade_type == "MWEB":
        return {"h5_url": cashier_path(trade.prepay_id)}
    return {"prepay_id": trade.prepay_id}


def api_query(*, out_trade_no: str | None = None, transaction_id: str | None = None, **_) -> dict:
    qs = DevTrade.objects.all()
    trade = (
        qs.filter(transaction_id=transaction_id).first()
        if transaction_id
        else qs.filter(out_trade_no=out_trade_no).first()
    )
    if trade is None:
        raise _error(404, "ORDER_NOT_EXIST", "订单不存在")
    return trade_payload(trade)


def api_close(*, out_trade_no: str, **_) -> None:
    with transaction.atomic():
        trade = DevTrade.objects.select_for_update().filter(out_trade_no=out_trade_no).first()
        if trade is None:
            raise _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if trade.state in PAID_STATES:
            raise _error(400, "ORDERPAID", "该订单已支付")
        if trade.state != "CLOSED":
            trade.state = "CLOSED"
            trade.save(update_fields=["state"])
    return None


def refund_payload(refund: DevRefund, *, notification: bool = False) -> dict:
    trade = refund.trade
    amount = {
        "total": trade.amount_fen,
        "refund": refund.amount_fen,
        "payer_total": trade.amount_fen,
        "payer_refund": refund.amount_fen,
    }
    payload = {
        "mchid": trade.mchid,
        "out_trade_no": trade.out_trade_no,
        "transaction_id": trade.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "user_received_account": "支付用户零钱",
    }
    if refund.success_time:
        payload["success_time"] = wire.china_time(refund.success_time)
    if notification:
        payload["refund_status"] = refund.status
        payload["amount"] = amount
        return payload
    amount.update(
        {
            "settlement_refund": refund.amount_fen,
            "settlement_total": trade.amount_fen,
            "discount_refund": 0,
            "currency": "CNY",
        }
    )
    payload.update(
        {
            "channel": "ORIGINAL",
            "create_time": wire.china_time(refund.created_at),
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": amount,
        }
    )
    return payload


def api_refund(
    *,
    out_refund_no: str,
    amount: dict,
    transaction_id: str | None = None,
    out_trade_no: str | None = None,
    reason: str | None = None,
    notify_url: str | None = None,
    **_,
) -> dict:
    refund_fen, total_fen = amount.get("refund"), amount.get("total")
    if not isinstance(refund_fen, int) or refund_fen <= 0:
        raise _error(400, "PARAM_ERROR", "amount.refund 必须为正整数（分）")
    with transaction.atomic():
        qs = DevTrade.objects.select_for_update()
        trade = (
            qs.filter(transaction_id=transaction_id).first()
            if transaction_id
            else qs.filter(out_trade_no=out_trade_no).first()
        )
        if trade is None:
            raise _error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        existing = DevRefund.objects.filter(out_refund_no=out_refund_no).first()
        if existing is not None:
            # The same out_refund_no asks about the same refund: never a second one.
            if existing.trade_id != trade.pk or existing.amount_fen != refund_fen:
                raise _error(400, "INVALID_REQUEST", "退款单号已存在，请求参数不一致")
            return refund_payload(existing)
        if trade.state not in PAID_STATES:
            raise _error(400, "INVALID_REQUEST", "订单未支付，不能退款")
        if total_fen != trade.amount_fen:
            raise _error(400, "PARAM_ERROR", "amount.total 与原订单金额不一致")
        refunded = trade.refunds.exclude(status="CLOSED").aggregate(s=Sum("amount_fen"))["s"] or 0
        if refunded + refund_fen > trade.amount_fen:
            raise _error(400, "INVALID_REQUEST", "退款金额超过订单可退金额")
        refund = DevRefund.objects.create(
            out_refund_no=out_refund_no,
            refund_id="50" + timezone.now().strftime("%Y%m%d") + secrets.token_hex(10),
            trade=trade,
            amount_fen=refund_fen,
            reason=(reason or "")[:80],
            notify_url=notify_url or "",
        )
        trade.state = "REFUND"
        trade.save(update_fields=["state"])
        from .tasks import enqueue, settle_dev_refund

        delay = timedelta(seconds=max(0, settings.SIYU_DEV_PAY_REFUND_SECONDS))
        transaction.on_commit(lambda: enqueue(settle_dev_refund, refund.out_refund_no, delay=delay))
    return refund_payload(refund)


def api_query_refund(*, out_refund_no: str, **_) -> dict:
    refund = DevRefund.objects.select_related("trade").filter(out_refund_no=out_refund_no).first()
    if refund is None:
        raise _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    return refund_payload(refund)


API = {
    "pay": api_pay,
    "query": api_query,
    "close": api_close,
    "refund": api_refund,
    "query_refund": api_query_refund,
}


# --- what the shopper (and WeChat Pay's back office) do -------------------------------------------


def trade_for_prepay(prepay_id: str) -> DevTrade | None:
    return DevTrade.objects.filter(prepay_id=prepay_id).first()


def pay(prepay_id: str) -> DevTrade:
    """The shopper confirms on the cashier: the trade succeeds and a notification is owed."""
    with transaction.atomic():
        trade = DevTrade.objects.select_for_update().filter(prepay_id=prepay_id).first()
        if trade is None:
            raise _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if trade.state in PAID_STATES:
            return trade  # paying twice on the cashier page is a no-op, as in WeChat
        if trade.state != "NOTPAY":
            raise _error(400, "ORDER_CLOSED", "该订单已关闭")
        now = timezone.now()
        if trade.time_expire <= now:
            trade.state = "CLOSED"
            trade.save(update_fields=["state"])
            raise _error(400, "ORDER_CLOSED", "订单已过期")
        trade.state = "SUCCESS"
        trade.success_time = now
        trade.transaction_id = "4200" + now.strftime("%Y%m%d") + f"{secrets.randbelow(10**16):016d}"
        trade.save(update_fields=["state", "success_time", "transaction_id"])
        _owe_notification(
            "TRANSACTION.SUCCESS", "支付成功", "transaction", trade_payload(trade), trade.notify_url
        )
    return trade


def settle_refund(out_refund_no: str, status: str = "SUCCESS") -> DevRefund | None:
    """The refund reaches the shopper (or, for tests, closes or turns abnormal)."""
    with transaction.atomic():
        refund = (
            DevRefund.objects.select_for_update()
            .select_related("trade")
            .filter(out_refund_no=out_refund_no)
            .first()
        )
        if refund is None or refund.status == status or refund.status in ("SUCCESS", "CLOSED"):
            return refund
        refund.status = status
        if status == "SUCCESS":
            refund.success_time = timezone.now()
        refund.save(update_fields=["status", "success_time"])
        summary = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}[status]
        _owe_notification(
            f"REFUND.{status}",
            summary,
            "refund",
            refund_payload(refund, notification=True),
            refund.notify_url,
        )
    return refund


def _owe_notification(event_type, summary, original_type, resource, notify_url) -> DevNotification:
    note = DevNotification.objects.create(
        event_id=f"EV-{timezone.now():%Y%m%d%H%M%S}{secrets.token_hex(6)}",
        event_type=event_type,
        summary=summary,
        original_type=original_type,
        resource=resource,
        notify_url=notify_url or "",
    )
    from .tasks import deliver_dev_notification, enqueue

    transaction.on_commit(lambda: enqueue(deliver_dev_notification, note.pk, 0))
    return note


# --- notification delivery ------------------------------------------------------------------------


def signed_notification(note: DevNotification) -> tuple[dict[str, str], str]:
    """Body and headers for one delivery attempt: freshly signed, as each WeChat retry is."""
    dev_keys = keys()
    body = wire.notification_body(
        event_id=note.event_id,
        event_type=note.event_type,
        summary=note.summary,
        original_type=note.original_type,
        resource=note.resource,
        apiv3_key=apiv3_key(),
        create_time=note.created_at,
    )
    headers = wire.signed_headers(dev_keys.platform_key, dev_keys.public_key_id, body)
    return headers, body


def _post(note: DevNotification) -> tuple[int | None, str]:
    headers, body = signed_notification(note)
    if note.notify_url:
        import requests

        try:
            response = requests.post(
                note.notify_url,
                data=body.encode(),
                headers={**headers, "Content-Type": "application/json"},
                timeout=10,
            )
        except requests.RequestException as exc:
            return None, str(exc)[:255]
        return response.status_code, response.text[:255]
    # No URL: hand the request to our own notification endpoint in this process, as a real
    # WSGI request, so the demo needs no idea of the address it is served on.
    from django.core.handlers.wsgi import WSGIRequest

    from .views_h5 import notify

    raw = body.encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": reverse("payments_h5:notify", args=["dev"]),
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    try:
        response = notify(WSGIRequest(environ), provider="dev")
    except Exception as exc:  # the endpoint answers 500 itself; this is a bug below it
        log.exception("in-process notification delivery failed")
        return None, str(exc)[:255]
    return response.status_code, response.content.decode("utf-8", "replace")[:255]


def deliver(notification_id: int, attempt: int) -> str:
    """One delivery attempt; schedules the next on failure. Returns the notification's state."""
    now = timezone.now()
    # Claim attempt `attempt`: a duplicate task, or the sweep re-enqueuing, finds no row to claim.
    claimed = DevNotification.objects.filter(
        pk=notification_id, state="pending", attempts=attempt
    ).update(attempts=attempt + 1, next_attempt_at=now + DELIVERY_LEASE)
    if not claimed:
        return "skipped"
    note = DevNotification.objects.get(pk=notification_id)
    status, detail = _post(note)
    if status is not None and 200 <= status < 300:
        DevNotification.objects.filter(pk=note.pk).update(
            state="delivered", last_status=status, last_error="", delivered_at=timezone.now()
        )
        return "delivered"
    if attempt >= len(RETRY_SCHEDULE):
        DevNotification.objects.filter(pk=note.pk).update(
            state="abandoned", last_status=status, last_error=detail
        )
        log.warning(
            "dev provider gave up notifying %s after %s attempts", note.event_id, attempt + 1
        )
        return "abandoned"
    delay = RETRY_SCHEDULE[attempt]
    DevNotification.objects.filter(pk=note.pk).update(
        last_status=status, last_error=detail, next_attempt_at=timezone.now() + delay
    )
    from .tasks import deliver_dev_notification, enqueue

    enqueue(deliver_dev_notification, note.pk, attempt + 1, delay=delay)
    return "pending"


def sweep(now=None, limit: int = 200) -> int:
    """Restart delivery chains whose next attempt is overdue (a worker died mid-chain)."""
    from .tasks import deliver_dev_notification, enqueue

    now = now or timezone.now()
    overdue = DevNotification.objects.filter(
        state="pending", next_attempt_at__lt=now - DELIVERY_LEASE
    ).order_by("next_attempt_at")[:limit]
    n = 0
    for note in overdue:
        enqueue(deliver_dev_notification, note.pk, note.attempts)
        n += 1
    return n
