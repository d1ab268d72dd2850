"""Configuration checks for payments (run by `siyu check` and at start-up)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=False)
def check_payment_provider(app_configs=None, **kwargs):
    from .errors import ProviderNotConfigured
    from .providers.wechat import WeChatPayConfig
    from .wechat_wire import load_private

    problems = []
    name = settings.SIYU_PAYMENT_PROVIDER
    if name not in ("dev", "wechat"):
        return [
            checks.Error(
                f"SIYU_PAYMENT_PROVIDER must be 'dev' or 'wechat', not {name!r}",
                id="payments.E001",
            )
        ]
    if name == "dev" and not settings.SIYU_DEV_PAY_ALLOWED:
        problems.append(
            checks.Warning(
                "SIYU_PAYMENT_PROVIDER is 'dev' but the dev provider is not allowed here: "
                "shoppers cannot pay.",
                hint="Configure WeChat Pay (docs/payments.md, 'Going live'), or set "
                "SIYU_DEV_PAY_ALLOWED=true for a demo that takes no real money.",
                id="payments.W002",
            )
        )
    if name == "wechat":
        try:
            config = WeChatPayConfig.from_settings()
        except ProviderNotConfigured as exc:
            return [*problems, checks.Error(exc.message, id="payments.E003")]
        if len(config.apiv3_key.encode()) != 32:
            problems.append(
                checks.Error("SIYU_WECHATPAY_APIV3_KEY must be 32 characters.", id="payments.E004")
            )
        try:
            load_private(config.private_key)
        except (ValueError, TypeError) as exc:
            problems.append(
                checks.Error(
                    f"SIYU_WECHATPAY_PRIVATE_KEY_PATH is not a PEM private key: {exc}",
                    id="payments.E005",
                )
            )
        if not config.notify_url.startswith("https://"):
            problems.append(
                checks.Warning(
                    "SIYU_WECHATPAY_NOTIFY_URL should be an https:// address WeChat Pay can reach.",
                    id="payments.W001",
                )
            )
    return problems
