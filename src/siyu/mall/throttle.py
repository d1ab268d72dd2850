"""Fixed-window rate limits kept in the database, so every web worker sees the same counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import F
from django.utils import timezone

from siyu.core import crypto

from .models import LoginThrottle


def window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def key_hash(key: str) -> str:
    """Keys are phones and IP addresses: personal data, so only their keyed hash is stored."""
    return crypto.lookup_hash("mall-throttle", key)


def hit(
    scope: str, key: str, *, limit: int, window: timedelta, now: datetime | None = None
) -> bool:
    """Count one event. False, and nothing counted, when the window already holds `limit`.

    Call inside a transaction: on PostgreSQL the UPDATE keeps the row locked until commit, which
    also serialises concurrent requests for the same key.
    """
    start = window_start(now or timezone.now(), window)
    row, _created = LoginThrottle.objects.get_or_create(
        scope=scope, key_hash=key_hash(key), window_start=start
    )
    return bool(
        LoginThrottle.objects.filter(pk=row.pk, count__lt=limit).update(count=F("count") + 1)
    )


def count(scope: str, key: str, *, window: timedelta, now: datetime | None = None) -> int:
    start = window_start(now or timezone.now(), window)
    row = (
        LoginThrottle.objects.filter(scope=scope, key_hash=key_hash(key), window_start=start)
        .values_list("count", flat=True)
        .first()
    )
    return row or 0


def seconds_left(window: timedelta, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return max(1, int((window_start(now, window) + window - now).total_seconds()))
