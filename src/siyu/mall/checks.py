"""Configuration checks for shopper login (run by `siyu check` and at start-up)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from .sms import ALIASES
from .wechat_oauth import SCOPES


@checks.register(checks.Tags.security, deploy=False)
def check_login_adapters(app_configs=None, **kwargs):
    problems = []
    sms_path = ALIASES.get(settings.SIYU_SMS_ADAPTER, settings.SIYU_SMS_ADAPTER)
    try:
        import_string(sms_path)
    except ImportError as exc:
        problems.append(
            checks.Error(
                f"SIYU_SMS_ADAPTER {settings.SIYU_SMS_ADAPTER!r} cannot be imported: {exc}",
                id="mall.E001",
            )
        )
    if settings.PRODUCTION and settings.SIYU_SMS_ADAPTER == "console":
        problems.append(
            checks.Warning(
                "SIYU_SMS_ADAPTER is 'console': shoppers cannot log in with a phone code "
                "in production until a real SMS adapter is configured.",
                hint="See docs/mall.md, 'Plugging in an SMS provider'.",
                id="mall.W001",
            )
        )
    mode = (settings.SIYU_WECHAT_OAUTH or "").lower()
    if mode not in ("", "wechat", "fake"):
        problems.append(
            checks.Error(
                f"SIYU_WECHAT_OAUTH must be 'wechat', 'fake' or empty, not {mode!r}",
                id="mall.E002",
            )
        )
    if mode == "wechat" and not (
        settings.SIYU_WECHAT_OA_APP_ID and settings.SIYU_WECHAT_OA_APP_SECRET
    ):
        problems.append(
            checks.Error(
                "SIYU_WECHAT_OAUTH=wechat needs SIYU_WECHAT_OA_APP_ID and SIYU_WECHAT_OA_APP_SECRET",
                id="mall.E003",
            )
        )
    if mode == "fake" and settings.PRODUCTION:
        problems.append(
            checks.Error(
                "SIYU_WECHAT_OAUTH=fake lets anyone log in as anyone; it is for development only",
                id="mall.E004",
            )
        )
    if settings.SIYU_WECHAT_OAUTH_SCOPE not in SCOPES:
        problems.append(
            checks.Error(
                f"SIYU_WECHAT_OAUTH_SCOPE must be one of {', '.join(SCOPES)}", id="mall.E005"
            )
        )
    return problems
