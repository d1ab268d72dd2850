"""Provider registry: `get_provider()` for new payments, `get_provider(payment.provider)` for one
already made (a refund goes back through the provider that took the money)."""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.translation import gettext as _

from ..errors import ProviderNotConfigured
from .base import (
    Notification,
    PaymentLaunch,
    PaymentProvider,
    PaymentRequest,
    RefundResult,
    RefundState,
    TradeResult,
    TradeState,
)

__all__ = [
    "Notification",
    "PaymentLaunch",
    "PaymentProvider",
    "PaymentRequest",
    "RefundResult",
    "RefundState",
    "TradeResult",
    "TradeState",
    "get_provider",
]

_SETTINGS = {
    "dev": (
        "SIYU_DEV_PAY_ALLOWED",
        "SIYU_DEV_PAY_NOTIFY_URL",
        "SIYU_DEV_PAY_KEY_DIR",
        "SECRET_KEY",
    ),
    "wechat": (
        "SIYU_WECHATPAY_MCHID",
        "SIYU_WECHATPAY_APPID",
        "SIYU_WECHATPAY_MINIPROGRAM_APPID",
        "SIYU_WECHATPAY_CERT_SERIAL_NO",
        "SIYU_WECHATPAY_PRIVATE_KEY_PATH",
        "SIYU_WECHATPAY_APIV3_KEY",
        "SIYU_WECHATPAY_PUBLIC_KEY_ID",
        "SIYU_WECHATPAY_PUBLIC_KEY_PATH",
        "SIYU_WECHATPAY_CERT_DIR",
        "SIYU_WECHATPAY_NOTIFY_URL",
        "SIYU_WECHATPAY_API_BASE",
        "SIYU_WECHATPAY_TIMEOUT_SECONDS",
    ),
}
_cache: dict[tuple, PaymentProvider] = {}
_lock = threading.Lock()


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider called `name` (default: SIYU_PAYMENT_PROVIDER), built once per configuration."""
    name = name or settings.SIYU_PAYMENT_PROVIDER
    if name not in _SETTINGS:
        raise ProviderNotConfigured(_("Unknown payment provider %(name)s.") % {"name": name})
    if name == "dev" and not settings.SIYU_DEV_PAY_ALLOWED:
        raise ProviderNotConfigured(
            _("The dev payment provider is disabled here (SIYU_DEV_PAY_ALLOWED).")
        )
    key = (name, *(repr(getattr(settings, s, None)) for s in _SETTINGS[name]))
    provider = _cache.get(key)
    if provider is None:
        with _lock:
            provider = _cache.get(key)
            if provider is None:
                if name == "dev":
                    from .dev import DevPayProvider

                    provider = DevPayProvider.from_settings()
                else:
                    from .wechat import WeChatPayProvider

                    provider = WeChatPayProvider.from_settings()
                _cache[key] = provider
    return provider
