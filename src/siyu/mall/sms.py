"""SMS delivery for one-time login codes, behind a small adapter interface.

The mall never talks to an SMS provider directly: it builds an `SmsMessage` and hands it to the
adapter named by `SIYU_SMS_ADAPTER`. The `console` adapter writes the code to the log (the terminal
of `siyu serve`) and keeps the last messages in memory for tests; production plugs in a provider
adapter (Aliyun, Tencent Cloud...) as described in docs/mall.md.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from siyu.core import crypto

log = logging.getLogger("siyu.mall.sms")

ALIASES = {"console": "siyu.mall.sms.ConsoleSmsAdapter"}


class SmsError(Exception):
    """The provider did not accept the message; the shopper may try again later."""


@dataclass(frozen=True)
class SmsMessage:
    """One templated text. Chinese providers send pre-approved templates filled with parameters,
    so adapters map `template` to their template code and pass `params` through."""

    phone: str
    template: str
    params: dict = field(default_factory=dict)


class SmsAdapter:
    """Base class: `send()` delivers one message or raises SmsError, returning the provider's
    message id. Options from `SIYU_SMS_OPTIONS` arrive as keyword arguments."""

    name = "base"

    def __init__(self, **options) -> None:
        self.options = options

    def send(self, message: SmsMessage) -> str:
        raise NotImplementedError


class ConsoleSmsAdapter(SmsAdapter):
    """Development and demo adapter: logs the message ("shows it in the console log") and keeps
    the latest messages in `outbox` so tests can read the code. Refuses to run in production,
    where the log would let anyone who reads it log in as any shopper."""

    name = "console"
    _outbox: deque[SmsMessage] = deque(maxlen=200)
    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> str:
        if settings.PRODUCTION:
            raise SmsError("the console SMS adapter is for development only")
        with self._lock:
            self._outbox.append(message)
            number = len(self._outbox)
        log.info(
            "SMS to %s [%s]: %s",
            crypto.mask_phone(message.phone),
            message.template,
            " ".join(f"{k}={v}" for k, v in message.params.items()),
        )
        return f"console-{number}"

    @classmethod
    def outbox(cls) -> list[SmsMessage]:
        with cls._lock:
            return list(cls._outbox)

    @classmethod
    def last_code_for(cls, phone: str) -> str | None:
        """The newest login code sent to `phone` (tests and the demo read it here)."""
        for message in reversed(cls.outbox()):
            if message.phone == phone and "code" in message.params:
                return str(message.params["code"])
        return None

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls._outbox.clear()


@lru_cache(maxsize=4)
def _build(path: str, options_json: str) -> SmsAdapter:
    klass = import_string(ALIASES.get(path, path))
    return klass(**json.loads(options_json))


def get_adapter() -> SmsAdapter:
    """The configured adapter (one instance per configuration)."""
    options = json.dumps(settings.SIYU_SMS_OPTIONS or {}, sort_keys=True)
    return _build(settings.SIYU_SMS_ADAPTER, options)
