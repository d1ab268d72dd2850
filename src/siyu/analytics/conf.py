"""Analytics settings: each from Django settings if defined there, else from the environment.

Documented in docs/configuration.md and docs/analytics.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings


def _get(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is not None:
        return str(value)
    return os.environ.get(name, default)


def analytics_dir() -> Path:
    """Where the columnar snapshot (DuckDB) lives."""
    return Path(_get("SIYU_ANALYTICS_DIR", str(Path(settings.VAR_DIR) / "analytics")))


def category_path() -> str:
    """How an order line reaches its category through the catalogue (Django lookup syntax)."""
    return _get("SIYU_ANALYTICS_CATEGORY_PATH", "sku__product__category")


def snapshot_overlap_minutes() -> int:
    """Re-read rows changed this long before the watermark (transactions that committed late)."""
    return int(_get("SIYU_SNAPSHOT_OVERLAP_MINUTES", "10"))


def snapshot_refresh_minutes() -> int:
    return int(_get("SIYU_SNAPSHOT_REFRESH_MINUTES", "60"))


def clv_discount_rate() -> float:
    """Annual discount rate for CLV (0 = undiscounted); applied per 30-day month."""
    return float(_get("SIYU_CLV_ANNUAL_DISCOUNT_RATE", "0"))


def replenish_lead_days() -> int:
    """A replenishment is due this many days before the expected next purchase."""
    return int(_get("SIYU_REPLENISH_LEAD_DAYS", "7"))
