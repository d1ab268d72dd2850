"""WeChat Pay API v3 (direct merchant) through the `wechatpayv3` SDK.

Two key modes, as WeChat Pay offers them:

* WeChat-Pay-public-key mode (微信支付公钥): responses and notifications are signed with the key
  whose id is `Wechatpay-Serial` = PUBLIC_KEY_ID; we verify with the public key file.
* Platform-certificate mode (平台证书): `Wechatpay-Serial` names one of WeChat Pay's platform
  certificates; the SDK keeps them in CERT_DIR and downloads new ones when an unknown serial
  appears (certificate rotation).

Notifications (TRANSACTION.*, REFUND.*) are checked in this order: headers present, timestamp
within SIYU_PAYMENT_NOTIFY_MAX_AGE_SECONDS (older means a replay), signature (SDK), resource
decrypted with the APIv3 key (AES-256-GCM; a tampered ciphertext fails its tag).
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt

from siyu.core.errors import ValidationFailed

from ..errors import (
    NotificationRejected,
    ProviderError,
    ProviderNotConfigured,
    ProviderUnavailable,
)
from ..wechat_wire import SIGNATURE_TYPE, china_time, nonce_str
from .base import (
    Notification,
    PaymentLaunch,
    PaymentProvider,
    PaymentRequest,
    RefundResult,
    TradeResult,
    parse_time,
    refund_from_wechat,
    trade_from_wechat,
    without_payer,
)

log = logging.getLogger("siyu.payments.wechat")

PRODUCTION_API = "https://api.mch.weixin.qq.com"
_HEX = re.compile(r"^[0-9A-Fa-f]{1,64}$")
# WeChat Pay error codes worth retrying: its own hiccups, rate limits, and a merchant account
# momentarily short of balance for a refund.
TRANSIENT_CODES = frozenset(
    {"SYSTEM_ERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH", "BANK_ERROR", "ACCOUNT_ERROR"}
)
NOT_FOUND_CODES = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"})

_PAY_TYPES = {
    "jsapi": WeChatPayType.JSAPI,
    "miniprogram": WeChatPayType.MINIPROG,
    "h5": WeChatPayType.H5,
}


def _header_map(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


class WeChatV3Notifications:
    """Notification verification shared by the WeChat Pay adapter and the dev provider: both
    receive WeChat-format notifications and check them with the SDK."""

    client: WeChatPay
    apiv3_key: str
    public_key_id: str = ""
    _verify_lock: threading.Lock

    def accepts_serial(self, serial: str) -> bool:
        return serial == self.public_key_id or bool(_HEX.match(serial))

    def _verify_signature(self, sdk_headers: dict[str, str], text: str) -> bool:
        # The SDK's own check (wechatpayv3 >= 1.3, core.Core._verify_signature): it picks the public
        # key by serial and, in certificate mode, refreshes platform certificates on a miss. The
        # lock keeps that refresh from racing other threads' lookups.
        with self._verify_lock:
            try:
                return bool(self.client._core._verify_signature(sdk_headers, text))
            except (
                Exception
            ) as exc:  # the SDK raises bare Exceptions (and ValueError on bad serials)
                log.warning("signature check failed with %s: %s", type(exc).__name__, exc)
                return False

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notification:
        h = _header_map(headers)
        signature = h.get("wechatpay-signature", "")
        timestamp = h.get("wechatpay-timestamp", "")
        nonce = h.get("wechatpay-nonce", "")
        serial = h.get("wechatpay-serial", "")
        signature_type = h.get("wechatpay-signature-type", "")
        if not (signature and timestamp and nonce and serial):
            raise NotificationRejected("missing_headers", "Wechatpay-* headers are missing")
        try:
            signed_at = int(timestamp)
        except ValueError:
            raise NotificationRejected("bad_timestamp", "Wechatpay-Timestamp is not a number")
        age = time.time() - signed_at
        max_age = settings.SIYU_PAYMENT_NOTIFY_MAX_AGE_SECONDS
        if abs(age) > max_age:
            raise NotificationRejected(
                "stale", f"signed {int(age)} s ago; older than {max_age} s is refused as a replay"
            )
        if signature_type != SIGNATURE_TYPE:
            raise NotificationRejected(
                "unsupported_signature", f"signature type {signature_type!r} is not supported"
            )
        if not self.accepts_serial(serial):
            raise NotificationRejected("unknown_key", f"unknown signing key {serial}", status=401)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise NotificationRejected("malformed", "body is not UTF-8")
        sdk_headers = {
            "Wechatpay-Signature": signature,
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": signature_type,
        }
        if not self._verify_signature(sdk_headers, text):
            raise NotificationRejected("bad_signature", "signature verification failed", status=401)
        try:
            data = json.loads(text)
        except ValueError:
            raise NotificationRejected("malformed", "body is not JSON")
        resource = data.get("resource") if isinstance(data, dict) else None
        if data.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
            raise NotificationRejected("malformed", "no encrypted resource")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise NotificationRejected(
                "unsupported_algorithm", f"algorithm {resource.get('algorithm')!r} not supported"
            )
        try:
            plaintext = aes_decrypt(
                nonce=str(resource.get("nonce") or ""),
                ciphertext=str(resource.get("ciphertext") or ""),
                associated_data=str(resource.get("associated_data") or ""),
                apiv3_key=self.apiv3_key,
            )
        except (binascii.Error, ValueError):
            plaintext = None
        if not plaintext:
            raise NotificationRejected(
                "decrypt_failed",
                "resource failed AES-256-GCM authentication (tampered or wrong key)",
            )
        try:
            payload = json.loads(plaintext)
        except ValueError:
            raise NotificationRejected("malformed", "decrypted resource is not JSON")
        event_type = str(data.get("event_type") or "")
        common = {
            "notification_id": str(data.get("id") or "")[:64],
            "event_type": event_type[:40],
            "created_at": parse_time(data.get("create_time")),
            "serial": serial[:64],
            "signed_at": datetime.fromtimestamp(signed_at, tz=UTC),
            "resource": without_payer(payload),
        }
        if event_type.startswith("TRANSACTION."):
            return Notification(kind="payment", trade=trade_from_wechat(payload), **common)
        if event_type.startswith("REFUND."):
            return Notification(kind="refund", refund=refund_from_wechat(payload), **common)
        return Notification(kind="other", **common)


class WeChatV3Calls:
    """Provider operations on the SDK's API calls, with WeChat Pay's error codes mapped to ours."""

    client: WeChatPay
    appid: str
    miniprogram_appid: str = ""
    notify_url: str = ""

    def _call(self, fn, /, **kwargs) -> dict | None:
        try:
            code, text = fn(**kwargs)
        except requests.RequestException as exc:
            raise ProviderUnavailable(provider_code="NETWORK", message=str(exc)[:200])
        except Exception as exc:  # the SDK raises bare Exceptions for its own checks
            if "verify the signature" in str(exc):
                # A response we cannot trust: treat as not received and ask again later.
                raise ProviderUnavailable(
                    _("The payment provider's answer failed signature verification."),
                    provider_code="RESPONSE_SIGNATURE",
                )
            raise ProviderError(str(exc)[:200], provider_code="SDK")
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        data = None
        if text:
            try:
                data = json.loads(text)
            except ValueError:
                data = None
        if 200 <= code < 300:
            return data
        err = data if isinstance(data, dict) else {}
        provider_code = str(err.get("code") or "")
        raise ProviderError(
            str(err.get("message") or text or "")[:200],
            provider_code=provider_code,
            http_status=code,
            transient=code >= 500 or code == 429 or provider_code in TRANSIENT_CODES,
        )

    def _appid_for(self, method: str) -> str:
        if method == "miniprogram" and self.miniprogram_appid:
            return self.miniprogram_appid
        return self.appid

    def jsapi_params(self, appid: str, prepay_id: str) -> dict:
        """The parameters wx.requestPayment / WeixinJSBridge need, signed with the merchant key."""
        timestamp = str(int(time.time()))
        nonce = nonce_str(32)
        package = f"prepay_id={prepay_id}"
        return {
            "appId": appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self.client.sign([appid, timestamp, nonce, package]),
        }

    def _launch(self, request: PaymentRequest, prepay_id: str, h5_url: str) -> PaymentLaunch:
        if request.method == "h5":
            redirect = h5_url
            if h5_url and request.return_url:
                redirect = f"{h5_url}&redirect_url={quote(request.return_url, safe='')}"
            return PaymentLaunch(h5_url=h5_url, redirect_url=redirect)
        return PaymentLaunch(
            prepay_id=prepay_id,
            jsapi_params=self.jsapi_params(self._appid_for(request.method), prepay_id),
        )

    def create_payment(self, request: PaymentRequest) -> PaymentLaunch:
        pay_type = _PAY_TYPES.get(request.method)
        if pay_type is None:
            raise ValidationFailed(_("Unknown payment method."), fields={"method": request.method})
        kwargs: dict = {
            "description": request.description,
            "out_trade_no": request.out_trade_no,
            "amount": {"total": request.amount_fen, "currency": "CNY"},
            "time_expire": china_time(request.expires_at),
            "notify_url": self.notify_url,
            "appid": self._appid_for(request.method),
            "pay_type": pay_type,
        }
        if request.attach:
            kwargs["attach"] = request.attach
        if request.method == "h5":
            kwargs["scene_info"] = {
                "payer_client_ip": request.client_ip or "127.0.0.1",
                "h5_info": {"type": "Wap"},
            }
        else:
            if not request.openid:
                raise ValidationFailed(
                    _("Paying inside WeChat needs the shopper's openid."),
                    fields={"openid": _("Required.")},
                )
            kwargs["payer"] = {"openid": request.openid}
        data = self._call(self.client.pay, **kwargs) or {}
        return self._launch(
            request, str(data.get("prepay_id") or ""), str(data.get("h5_url") or "")
        )

    def launch_again(self, request: PaymentRequest, prepay_id: str, h5_url: str) -> PaymentLaunch:
        return self._launch(request, prepay_id, h5_url)

    def query_payment(self, out_trade_no: str) -> TradeResult | None:
        try:
            data = self._call(self.client.query, out_trade_no=out_trade_no)
        except ProviderError as exc:
            if exc.provider_code in NOT_FOUND_CODES or exc.http_status == 404:
                return None
            raise
        return trade_from_wechat(data or {})

    def close_payment(self, out_trade_no: str) -> None:
        self._call(self.client.close, out_trade_no=out_trade_no)

    def refund(
        self,
        *,
        out_trade_no: str,
        transaction_id: str,
        out_refund_no: str,
        amount_fen: int,
        total_fen: int,
        reason: str,
    ) -> RefundResult:
        kwargs: dict = {
            "out_refund_no": out_refund_no,
            "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            "notify_url": self.notify_url or None,
        }
        if transaction_id:
            kwargs["transaction_id"] = transaction_id
        else:
            kwargs["out_trade_no"] = out_trade_no
        if reason:
            kwargs["reason"] = reason[:80]
        return refund_from_wechat(self._call(self.client.refund, **kwargs) or {})

    def query_refund(self, out_refund_no: str) -> RefundResult | None:
        try:
            data = self._call(self.client.query_refund, out_refund_no=out_refund_no)
        except ProviderError as exc:
            if exc.provider_code in NOT_FOUND_CODES or exc.http_status == 404:
                return None
            raise
        return refund_from_wechat(data or {})


@dataclass(frozen=True)
class WeChatPayConfig:
    mchid: str
    appid: str
    cert_serial_no: str
    private_key: str
    apiv3_key: str
    notify_url: str
    miniprogram_appid: str = ""
    public_key_id: str = ""
    public_key: str = ""
    cert_dir: str = ""
    api_base: str = ""
    timeout: float = 10.0

    @property
    def public_key_mode(self) -> bool:
        return bool(self.public_key_id)

    @classmethod
    def from_settings(cls) -> WeChatPayConfig:
        s = settings
        missing = [
            name
            for name in (
                "SIYU_WECHATPAY_MCHID",
                "SIYU_WECHATPAY_APPID",
                "SIYU_WECHATPAY_CERT_SERIAL_NO",
                "SIYU_WECHATPAY_PRIVATE_KEY_PATH",
                "SIYU_WECHATPAY_APIV3_KEY",
                "SIYU_WECHATPAY_NOTIFY_URL",
            )
            if not getattr(s, name, "")
        ]
        if missing:
            raise ProviderNotConfigured(
                _("WeChat Pay is not configured: set %(names)s.") % {"names": ", ".join(missing)}
            )
        if bool(s.SIYU_WECHATPAY_PUBLIC_KEY_ID) != bool(s.SIYU_WECHATPAY_PUBLIC_KEY_PATH):
            raise ProviderNotConfigured(
                _("Set both SIYU_WECHATPAY_PUBLIC_KEY_ID and SIYU_WECHATPAY_PUBLIC_KEY_PATH.")
            )
        return cls(
            mchid=s.SIYU_WECHATPAY_MCHID,
            appid=s.SIYU_WECHATPAY_APPID,
            miniprogram_appid=s.SIYU_WECHATPAY_MINIPROGRAM_APPID,
            cert_serial_no=s.SIYU_WECHATPAY_CERT_SERIAL_NO,
            private_key=_read(s.SIYU_WECHATPAY_PRIVATE_KEY_PATH, "SIYU_WECHATPAY_PRIVATE_KEY_PATH"),
            apiv3_key=s.SIYU_WECHATPAY_APIV3_KEY,
            notify_url=s.SIYU_WECHATPAY_NOTIFY_URL,
            public_key_id=s.SIYU_WECHATPAY_PUBLIC_KEY_ID,
            public_key=_read(s.SIYU_WECHATPAY_PUBLIC_KEY_PATH, "SIYU_WECHATPAY_PUBLIC_KEY_PATH")
            if s.SIYU_WECHATPAY_PUBLIC_KEY_PATH
            else "",
            cert_dir=s.SIYU_WECHATPAY_CERT_DIR,
            api_base=s.SIYU_WECHATPAY_API_BASE,
            timeout=s.SIYU_WECHATPAY_TIMEOUT_SECONDS,
        )


def _read(path: str, name: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ProviderNotConfigured(
            _("%(name)s: cannot read %(path)s (%(error)s).")
            % {"name": name, "path": path, "error": exc.strerror}
        )


class WeChatPayProvider(WeChatV3Notifications, WeChatV3Calls, PaymentProvider):
    name = "wechat"

    def __init__(self, config: WeChatPayConfig) -> None:
        if len(config.apiv3_key.encode()) != 32:
            raise ProviderNotConfigured(_("SIYU_WECHATPAY_APIV3_KEY must be 32 characters."))
        self.config = config
        self.mchid = config.mchid
        self.appid = config.appid
        self.miniprogram_appid = config.miniprogram_appid
        self.apiv3_key = config.apiv3_key
        self.notify_url = config.notify_url
        self.public_key_id = config.public_key_id
        self._verify_lock = threading.Lock()
        api_base = (config.api_base or PRODUCTION_API).rstrip("/")
        kwargs: dict = {
            "wechatpay_type": WeChatPayType.JSAPI,
            "mchid": config.mchid,
            "private_key": config.private_key,
            "cert_serial_no": config.cert_serial_no,
            "appid": config.appid,
            "apiv3_key": config.apiv3_key,
            "notify_url": config.notify_url,
            "logger": log,
            "timeout": (min(5.0, config.timeout), config.timeout),
        }
        if config.public_key_mode:
            kwargs["public_key"] = config.public_key
            kwargs["public_key_id"] = config.public_key_id
        else:
            if not config.cert_dir:
                raise ProviderNotConfigured(
                    _("Set SIYU_WECHATPAY_CERT_DIR, or the WeChat Pay public key settings.")
                )
            kwargs["cert_dir"] = config.cert_dir.rstrip("/")
            has_certs = Path(config.cert_dir).is_dir() and any(Path(config.cert_dir).glob("*.pem"))
            # The SDK downloads missing platform certificates while it is constructed, always
            # from its built-in production host; with another API base that download would go to
            # the wrong place, so the certificates must already be in CERT_DIR.
            if api_base != PRODUCTION_API and not has_certs:
                raise ProviderNotConfigured(
                    _("SIYU_WECHATPAY_CERT_DIR has no platform certificates (*.pem).")
                )
        try:
            self.client = WeChatPay(**kwargs)
        except Exception as exc:  # key parsing and the certificate download raise bare Exceptions
            raise ProviderNotConfigured(_("WeChat Pay could not start: %(error)s") % {"error": exc})
        # SIYU_WECHATPAY_API_BASE: a forward proxy / egress gateway in front of WeChat Pay, or the
        # local fake the test suite runs. The SDK has no parameter for it.
        self.client._core._gate_way = api_base

    @classmethod
    def from_settings(cls) -> WeChatPayProvider:
        return cls(WeChatPayConfig.from_settings())
