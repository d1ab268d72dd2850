"""Payout adapters: how a withdrawal's money reaches the payee.

* `wechat`: WeChat Pay's merchant transfer to the payee's WeChat balance (商家转账, API v3
  `/v3/fund-app/mch-transfer/transfer-bills`) through the `wechatpayv3` SDK. Since 2025 the payee
  confirms receipt in WeChat: the transfer answers `WAIT_USER_CONFIRM` with a `package_info` the
  mini-program or H5 page hands to WeChat, and becomes `SUCCESS` (or `CANCELLED` after 24 hours).
* `dev`: pays at once without any network; for the demo and local development.

Every attempt for one withdrawal carries the same `out_bill_no`. WeChat Pay treats a repeated
number as the same transfer, and its documentation asks merchants never to switch numbers after an
unclear answer but to query first, which is what `ledger.services.refresh_payout` does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

log = logging.getLogger(__name__)

SUCCESS = "success"
PENDING = "pending"
FAILED = "failed"
NOT_FOUND = "not_found"

# WeChat Pay transfer bill states and what they mean for the withdrawal.
WECHAT_STATES = {
    "ACCEPTED": PENDING,
    "PROCESSING": PENDING,
    "WAIT_USER_CONFIRM": PENDING,
    "TRANSFERING": PENDING,
    "CANCELING": PENDING,
    "SUCCESS": SUCCESS,
    "FAIL": FAILED,
    "CANCELLED": FAILED,
}


class PayoutUnavailable(Exception):
    """The provider could not be reached or gave no clear answer: the payout's outcome is
    unknown, so the withdrawal stays "paying" and is queried again later."""


class PayoutNotConfigured(Exception):
    pass


@dataclass(frozen=True)
class PayoutRequest:
    out_bill_no: str
    amount_fen: int
    openid: str
    user_name: str
    remark: str


@dataclass(frozen=True)
class PayoutResult:
    state: str  # SUCCESS, PENDING, FAILED or NOT_FOUND
    provider_state: str = ""
    provider_bill_no: str = ""
    package_info: str = ""
    reason: str = ""
    finished_at: datetime | None = None


class PayoutAdapter(Protocol):
    name: str
    needs_openid: bool

    def transfer(self, request: PayoutRequest) -> PayoutResult: ...

    def query(self, out_bill_no: str) -> PayoutResult: ...


class DevPayoutAdapter:
    """Pays at once, without a network: the demo and local runs. Never use it in production."""

    name = "dev"
    needs_openid = False

    def transfer(self, request: PayoutRequest) -> PayoutResult:
        log.info("dev payout %s: %s fen paid", request.out_bill_no, request.amount_fen)
        return PayoutResult(
            state=SUCCESS,
            provider_state="SUCCESS",
            provider_bill_no=f"DEV{request.out_bill_no}",
            finished_at=timezone.now(),
        )

    def query(self, out_bill_no: str) -> PayoutResult:
        return PayoutResult(
            state=SUCCESS, provider_state="SUCCESS", provider_bill_no=f"DEV{out_bill_no}"
        )


def _read_key(value: str) -> str:
    """A PEM given inline or as a path to a file."""
    if value and not value.lstrip().startswith("-----") and len(value) < 4096:
        try:
            with open(value, encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return value
    return value


class WeChatTransferAdapter:
    """WeChat Pay merchant transfers (商家转账) through `wechatpayv3`."""

    name = "wechat"
    needs_openid = True

    def __init__(self, client=None, config: dict | None = None) -> None:
        self.config = config if config is not None else self.config_from_settings()
        self._client = client

    @staticmethod
    def config_from_settings() -> dict:
        """The merchant's WeChat Pay credentials (shared with payments, `SIYU_WECHATPAY_*`) and
        the transfer's own settings (`SIYU_PAYOUT_TRANSFER_*`)."""
        from siyu.payments.providers.wechat import WeChatPayConfig

        try:
            merchant = WeChatPayConfig.from_settings()
        except Exception as exc:  # ProviderNotConfigured carries what is missing
            raise PayoutNotConfigured(str(exc)) from exc
        return {
            "mchid": merchant.mchid,
            # the H5 shopper logs in through the official account, so openids are under this appid
            "appid": merchant.appid,
            "private_key": merchant.private_key,
            "cert_serial_no": merchant.cert_serial_no,
            "apiv3_key": merchant.apiv3_key,
            "public_key": merchant.public_key,
            "public_key_id": merchant.public_key_id,
            "cert_dir": merchant.cert_dir,
            "gateway": merchant.api_base,
            "timeout": merchant.timeout,
            "transfer_scene_id": settings.SIYU_PAYOUT_TRANSFER_SCENE_ID,
            "transfer_perception": settings.SIYU_PAYOUT_TRANSFER_PERCEPTION,
            "transfer_report_infos": settings.SIYU_PAYOUT_TRANSFER_REPORT_INFOS,
            "transfer_notify_url": settings.SIYU_PAYOUT_TRANSFER_NOTIFY_URL,
        }

    @property
    def client(self):
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def _build_client(self):
        from wechatpayv3 import WeChatPay, WeChatPayType

        c = self.config
        missing = [
            k
            for k in ("mchid", "appid", "private_key", "cert_serial_no", "apiv3_key")
            if not c.get(k)
        ]
        if missing:
            raise PayoutNotConfigured(f"WeChat Pay is not configured: missing {', '.join(missing)}")
        client = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=c["mchid"],
            private_key=_read_key(c["private_key"]),
            cert_serial_no=c["cert_serial_no"],
            appid=c["appid"],
            apiv3_key=c["apiv3_key"],
            notify_url=c.get("transfer_notify_url") or None,
            cert_dir=(c.get("cert_dir") or "").rstrip("/") or None,
            public_key=_read_key(c.get("public_key", "")) or None,
            public_key_id=c.get("public_key_id") or None,
            timeout=(5, float(c.get("timeout") or 20)),
            logger=log,
        )
        if c.get("gateway"):
            # The SDK has no setting for its endpoint; tests and private proxies set it here.
            client._core._gate_way = c["gateway"].rstrip("/")
        return client

    def transfer(self, request: PayoutRequest) -> PayoutResult:
        c = self.config
        try:
            code, body = self.client.mch_transfer_bills(
                out_bill_no=request.out_bill_no,
                transfer_scene_id=c.get("transfer_scene_id") or "1005",
                openid=request.openid,
                transfer_amount=request.amount_fen,
                transfer_remark=request.remark[:32],
                user_name=request.user_name or None,
                user_recv_perception=c.get("transfer_perception") or None,
                transfer_scene_report_infos=c.get("transfer_report_infos") or [],
            )
        except PayoutNotConfigured:
            raise
        except Exception as exc:  # requests errors, signature failures: outcome unknown
            raise PayoutUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return self._result(code, body)

    def query(self, out_bill_no: str) -> PayoutResult:
        try:
            code, body = self.client.mch_transfer_bills_query(out_bill_no=out_bill_no)
        except Exception as exc:
            raise PayoutUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return self._result(code, body)

    @staticmethod
    def _result(code: int, body) -> PayoutResult:
        try:
            data = json.loads(body) if body else {}
        except (TypeError, ValueError):
            data = {}
        if code == 404 or data.get("code") == "NOT_FOUND":
            return PayoutResult(state=NOT_FOUND, provider_state="NOT_FOUND")
        if not 200 <= code < 300:
            # The bill may or may not exist: never guess. Keep it paying and query later.
            raise PayoutUnavailable(
                f"HTTP {code} {data.get('code', '')}: {data.get('message', '')}".strip()
            )
        provider_state = str(data.get("state", ""))
        state = WECHAT_STATES.get(provider_state)
        if state is None:
            raise PayoutUnavailable(f"unknown transfer state {provider_state!r}")
        finished = parse_datetime(data["update_time"]) if data.get("update_time") else None
        return PayoutResult(
            state=state,
            provider_state=provider_state,
            provider_bill_no=str(data.get("transfer_bill_no", "")),
            package_info=str(data.get("package_info", "")),
            reason=str(data.get("fail_reason", "")),
            finished_at=finished if state == SUCCESS else None,
        )


_overrides: dict[str, PayoutAdapter] = {}


def get_adapter(name: str | None = None) -> PayoutAdapter:
    """The adapter for a channel name (the configured default when None)."""
    name = name or settings.SIYU_PAYOUT_ADAPTER
    if name in _overrides:
        return _overrides[name]
    if name == "dev":
        return DevPayoutAdapter()
    if name == "wechat":
        return WeChatTransferAdapter()
    raise PayoutNotConfigured(f"unknown payout adapter {name!r}")


def override(name: str, adapter: PayoutAdapter | None) -> None:
    """Install (or remove, with None) an adapter instance for a channel: tests use this to route
    the background task through a fake provider."""
    if adapter is None:
        _overrides.pop(name, None)
    else:
        _overrides[name] = adapter
