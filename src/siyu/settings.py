"""One settings module, read from the environment (documented in docs/configuration.md)."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

PACKAGE_DIR = Path(__file__).resolve().parent
# A source checkout keeps runtime files in <repo>/var; an installed package uses the working directory.
_REPO_DIR = PACKAGE_DIR.parent.parent
BASE_DIR = _REPO_DIR if (_REPO_DIR / "pyproject.toml").exists() else Path.cwd()
VAR_DIR = Path(os.environ.get("SIYU_VAR_DIR", BASE_DIR / "var"))

SIYU_ENV = os.environ.get("SIYU_ENV", "development").lower()
PRODUCTION = SIYU_ENV == "production"
TESTING = SIYU_ENV == "test" or "pytest" in sys.modules


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _local_secrets() -> dict[str, str]:
    """Development only: generate SECRET_KEY and SIYU_DATA_KEY once and keep them under var/."""
    path = VAR_DIR / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    values = {"SECRET_KEY": secrets.token_urlsafe(50), "SIYU_DATA_KEY": secrets.token_urlsafe(32)}
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    print(
        f"siyu: generated local SECRET_KEY and SIYU_DATA_KEY in {path} "
        "(set them in the environment for production; keep this file to keep reading your data)",
        file=sys.stderr,
    )
    return values


def _secret(name: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"{name} must be set when SIYU_ENV=production")
    if TESTING:
        return f"test-{name.lower()}-not-secret"
    return _local_secrets()[name]


SECRET_KEY = _secret("SECRET_KEY")
SIYU_DATA_KEY = _secret("SIYU_DATA_KEY")
DEBUG = _env_bool("SIYU_DEBUG", not PRODUCTION and not TESTING)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS and not PRODUCTION:
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
if PRODUCTION:
    SESSION_COOKIE_SECURE = _env_bool("SIYU_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def _siyu_apps() -> list[str]:
    """Every domain app is a subpackage of siyu with an apps.py; adding a folder adds the app."""
    found = sorted(
        p.name
        for p in PACKAGE_DIR.iterdir()
        if p.is_dir() and (p / "apps.py").exists() and p.name != "core"
    )
    return ["siyu.core", *(f"siyu.{name}" for name in found)]


SIYU_APPS = _siyu_apps()

# siyu apps come first so their translations and templates win over Django's own.
INSTALLED_APPS = [
    *SIYU_APPS,
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session middleware with a separate cookie for shoppers on /m/ (siyu.mall.sessions)
    "siyu.mall.sessions.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "siyu.core.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "siyu.urls"
WSGI_APPLICATION = "siyu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "siyu.core.context_processors.console",
            ],
            "builtins": ["siyu.core.templatetags.siyu"],
        },
    }
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'siyu.sqlite3'}"
if TESTING and os.environ.get("SIYU_TEST_DATABASE_URL"):
    DATABASE_URL = os.environ["SIYU_TEST_DATABASE_URL"]


def _database(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=int(os.environ.get("SIYU_CONN_MAX_AGE", "60")))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # WAL lets the web server and the worker read while the other writes; IMMEDIATE makes
            # a writing transaction take the lock up front instead of failing half-way through.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
    if TESTING and "TEST" not in config:
        test_name = os.environ.get("SIYU_TEST_DATABASE_NAME")
        if test_name:
            config["TEST"] = {"NAME": test_name}
    return config


DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, tasks ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600}}
    INSTALLED_APPS.append("django_rq")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
if TESTING and os.environ.get("SIYU_TASKS_IMMEDIATE", "") == "1":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

# --- Auth -----------------------------------------------------------------------------------------
AUTH_USER_MODEL = "staff.User"
LOGIN_URL = "staff:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "staff:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- i18n, time -----------------------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("SIYU_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("SIYU_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
WHITENOISE_USE_FINDERS = True
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.min.js from the installed plotly package, for the dashboards (decision 0007)
    "siyu.dashboards.staticfiles.PlotlyFinder",
]
WHITENOISE_AUTOREFRESH = DEBUG
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

# --- Admin theme ----------------------------------------------------------------------------------
UNFOLD = {"SITE_TITLE": "siyu admin", "SITE_HEADER": "siyu 私域", "SITE_SYMBOL": "storefront"}

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SIYU_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- siyu business settings -----------------------------------------------------------------------
# Unpaid orders release their reserved stock after this many minutes.
SIYU_UNPAID_TIMEOUT_MINUTES = int(os.environ.get("SIYU_UNPAID_TIMEOUT_MINUTES", "30"))
# Console list pages never count past this; beyond it they show "10,000+".
SIYU_COUNT_LIMIT = int(os.environ.get("SIYU_COUNT_LIMIT", "10000"))
# Where `siyu serve` binds by default.
SIYU_BIND = os.environ.get("SIYU_BIND", "127.0.0.1:8000")

# --- H5 mall: shopper login (docs/mall.md) --------------------------------------------------------
# Shoppers on /m/ have their own session cookie, apart from staff sessions.
SIYU_SHOPPER_SESSION_COOKIE = os.environ.get("SIYU_SHOPPER_SESSION_COOKIE", "siyu_shopper")
SIYU_SHOPPER_SESSION_AGE = int(os.environ.get("SIYU_SHOPPER_SESSION_AGE", str(30 * 24 * 3600)))
# SMS adapter for login codes: "console" (logs the code; development only) or a dotted class path;
# SIYU_SMS_OPTIONS is a JSON object passed to it (keys, sign name, template codes).
SIYU_SMS_ADAPTER = os.environ.get("SIYU_SMS_ADAPTER", "console")
SIYU_SMS_OPTIONS = json.loads(os.environ.get("SIYU_SMS_OPTIONS", "") or "{}")
SIYU_LOGIN_CODE_TTL_SECONDS = int(os.environ.get("SIYU_LOGIN_CODE_TTL_SECONDS", "300"))
SIYU_LOGIN_CODE_RESEND_SECONDS = int(os.environ.get("SIYU_LOGIN_CODE_RESEND_SECONDS", "60"))
SIYU_LOGIN_CODE_MAX_ATTEMPTS = int(os.environ.get("SIYU_LOGIN_CODE_MAX_ATTEMPTS", "5"))
SIYU_LOGIN_CODES_PER_PHONE_HOUR = int(os.environ.get("SIYU_LOGIN_CODES_PER_PHONE_HOUR", "5"))
SIYU_LOGIN_CODES_PER_PHONE_DAY = int(os.environ.get("SIYU_LOGIN_CODES_PER_PHONE_DAY", "10"))
SIYU_LOGIN_CODES_PER_IP_HOUR = int(os.environ.get("SIYU_LOGIN_CODES_PER_IP_HOUR", "30"))
SIYU_LOGIN_FAILURES_PER_IP_HOUR = int(os.environ.get("SIYU_LOGIN_FAILURES_PER_IP_HOUR", "50"))
# Behind a reverse proxy, the META key holding the client address (e.g. HTTP_X_REAL_IP);
# unset, REMOTE_ADDR is used. Only set it when the proxy overwrites that header.
SIYU_CLIENT_IP_HEADER = os.environ.get("SIYU_CLIENT_IP_HEADER", "")
# WeChat web authorisation: "wechat" (official account app id + secret), "fake" (a local stand-in
# for development and the demo), or "" (off). Development defaults to "fake".
SIYU_WECHAT_OA_APP_ID = os.environ.get("SIYU_WECHAT_OA_APP_ID", "")
SIYU_WECHAT_OA_APP_SECRET = os.environ.get("SIYU_WECHAT_OA_APP_SECRET", "")
SIYU_WECHAT_OAUTH = os.environ.get(
    "SIYU_WECHAT_OAUTH", "wechat" if SIYU_WECHAT_OA_APP_ID else ("" if PRODUCTION else "fake")
)
SIYU_WECHAT_OAUTH_SCOPE = os.environ.get("SIYU_WECHAT_OAUTH_SCOPE", "snsapi_base")
# The shop name the H5 mall shows (default: "siyu mall", translated).
SIYU_SHOP_NAME = os.environ.get("SIYU_SHOP_NAME", "")

# --- Payments (docs/payments.md) ------------------------------------------------------------------
# Which provider new payments use: "dev" (a local stand-in for WeChat Pay, the demo default) or
# "wechat" (WeChat Pay API v3). Payments already made keep the provider they were made with.
SIYU_PAYMENT_PROVIDER = os.environ.get("SIYU_PAYMENT_PROVIDER", "dev").strip().lower()
# How long a shopper has to pay one payment attempt (WeChat Pay's time_expire).
SIYU_PAYMENT_EXPIRE_MINUTES = int(
    os.environ.get("SIYU_PAYMENT_EXPIRE_MINUTES", str(SIYU_UNPAID_TIMEOUT_MINUTES))
)
# Reconciliation asks the provider about payments and refunds unconfirmed for this long.
SIYU_PAYMENT_RECONCILE_AFTER_MINUTES = int(
    os.environ.get("SIYU_PAYMENT_RECONCILE_AFTER_MINUTES", "5")
)
# Notifications signed longer ago than this are replays and are refused.
SIYU_PAYMENT_NOTIFY_MAX_AGE_SECONDS = int(
    os.environ.get("SIYU_PAYMENT_NOTIFY_MAX_AGE_SECONDS", "300")
)
# Rejected, duplicate and ignored notifications are kept this many days (processed ones always).
SIYU_PAYMENT_NOTIFICATION_LOG_DAYS = int(
    os.environ.get("SIYU_PAYMENT_NOTIFICATION_LOG_DAYS", "180")
)
# WeChat Pay API v3 (direct merchant). Public-key mode when PUBLIC_KEY_ID/PATH are set, otherwise
# platform-certificate mode (certificates kept in CERT_DIR, downloaded by the SDK when missing).
SIYU_WECHATPAY_MCHID = os.environ.get("SIYU_WECHATPAY_MCHID", "")
SIYU_WECHATPAY_APPID = os.environ.get("SIYU_WECHATPAY_APPID", "")
SIYU_WECHATPAY_MINIPROGRAM_APPID = os.environ.get("SIYU_WECHATPAY_MINIPROGRAM_APPID", "")
SIYU_WECHATPAY_CERT_SERIAL_NO = os.environ.get("SIYU_WECHATPAY_CERT_SERIAL_NO", "")
SIYU_WECHATPAY_PRIVATE_KEY_PATH = os.environ.get("SIYU_WECHATPAY_PRIVATE_KEY_PATH", "")
SIYU_WECHATPAY_APIV3_KEY = os.environ.get("SIYU_WECHATPAY_APIV3_KEY", "")
SIYU_WECHATPAY_PUBLIC_KEY_ID = os.environ.get("SIYU_WECHATPAY_PUBLIC_KEY_ID", "")
SIYU_WECHATPAY_PUBLIC_KEY_PATH = os.environ.get("SIYU_WECHATPAY_PUBLIC_KEY_PATH", "")
SIYU_WECHATPAY_CERT_DIR = os.environ.get(
    "SIYU_WECHATPAY_CERT_DIR", str(VAR_DIR / "wechatpay-certs")
)
SIYU_WECHATPAY_NOTIFY_URL = os.environ.get("SIYU_WECHATPAY_NOTIFY_URL", "")
SIYU_WECHATPAY_API_BASE = os.environ.get("SIYU_WECHATPAY_API_BASE", "")
SIYU_WECHATPAY_TIMEOUT_SECONDS = float(os.environ.get("SIYU_WECHATPAY_TIMEOUT_SECONDS", "10"))
# The dev provider lets anyone "pay" without money: never in production unless explicitly allowed
# (a staging demo).
SIYU_DEV_PAY_ALLOWED = _env_bool("SIYU_DEV_PAY_ALLOWED", not PRODUCTION)
SIYU_DEV_PAY_NOTIFY_URL = os.environ.get("SIYU_DEV_PAY_NOTIFY_URL", "")
SIYU_DEV_PAY_REFUND_SECONDS = int(os.environ.get("SIYU_DEV_PAY_REFUND_SECONDS", "5"))
SIYU_DEV_PAY_KEY_DIR = os.environ.get("SIYU_DEV_PAY_KEY_DIR", str(VAR_DIR / "devpay"))
# Delivery fee for mall orders, and the goods amount (after discounts) from which delivery is free.
SIYU_SHIPPING_FEE_FEN = int(os.environ.get("SIYU_SHIPPING_FEE_FEN", "1000"))
SIYU_FREE_SHIPPING_FROM_FEN = int(os.environ.get("SIYU_FREE_SHIPPING_FROM_FEN", "9900"))
# Flash-sale admission: "auto" uses Redis (atomic Lua reservation) when REDIS_URL is set and
# conditional database updates otherwise; "db" forces the database path even with Redis.
SIYU_FLASH_SALE_MODE = os.environ.get("SIYU_FLASH_SALE_MODE", "auto")
# Shipped orders count as received (completed) this many days after shipping.
SIYU_AUTO_CONFIRM_DAYS = int(os.environ.get("SIYU_AUTO_CONFIRM_DAYS", "10"))
# After-sales requests are accepted this many days after completion; then the order closes.
SIYU_AFTER_SALES_DAYS = int(os.environ.get("SIYU_AFTER_SALES_DAYS", "7"))

# --- Group buying (docs/groupbuy.md) ---------------------------------------------------------------
# How often the group-buy sweep runs behind the per-group timers (fail overdue groups, finish
# refunds, free seats of cancelled orders), and how long a succeeded group's orders may wait for
# their release task before the sweep releases them itself.
SIYU_GROUPBUY_SWEEP_MINUTES = int(os.environ.get("SIYU_GROUPBUY_SWEEP_MINUTES", "1"))
SIYU_GROUPBUY_RELEASE_GRACE_SECONDS = int(
    os.environ.get("SIYU_GROUPBUY_RELEASE_GRACE_SECONDS", "60")
)

# --- Ledger payouts (docs/ledger.md) --------------------------------------------------------------
# How withdrawals are paid: "wechat" (WeChat Pay merchant transfer, with the merchant credentials
# of the payments settings above) or "dev" (pays at once, no network; never in production).
SIYU_PAYOUT_ADAPTER = os.environ.get("SIYU_PAYOUT_ADAPTER", "wechat" if PRODUCTION else "dev")
# Prefix of payout numbers (out_bill_no); change it if two siyu installs share one merchant id.
SIYU_PAYOUT_BILL_PREFIX = os.environ.get("SIYU_PAYOUT_BILL_PREFIX", "SYWD")
# What the payee sees on the transfer (at most 32 characters).
SIYU_PAYOUT_REMARK = os.environ.get("SIYU_PAYOUT_REMARK", "佣金提现")[:32]
# WeChat Pay transfer scene: 1005 is "佣金报酬" (commission), whose report infos are the payee's
# role and what the money is for; the payee sees the perception text.
SIYU_PAYOUT_TRANSFER_SCENE_ID = os.environ.get("SIYU_PAYOUT_TRANSFER_SCENE_ID", "1005")
SIYU_PAYOUT_TRANSFER_PERCEPTION = os.environ.get("SIYU_PAYOUT_TRANSFER_PERCEPTION", "劳务报酬")
SIYU_PAYOUT_TRANSFER_REPORT_INFOS = json.loads(
    os.environ.get(
        "SIYU_PAYOUT_TRANSFER_REPORT_INFOS",
        '[{"info_type": "岗位类型", "info_content": "分销员"},'
        ' {"info_type": "报酬说明", "info_content": "分销佣金"}]',
    )
)
SIYU_PAYOUT_TRANSFER_NOTIFY_URL = os.environ.get("SIYU_PAYOUT_TRANSFER_NOTIFY_URL", "")
