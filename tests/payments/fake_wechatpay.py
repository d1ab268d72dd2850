"""A local fake of WeChat Pay API v3, served on 127.0.0.1 in a thread: never the network.

It checks the merchant's signed Authorization header, keeps trades and refunds in memory, answers
with WeChat Pay's payload shapes and error codes, signs every 2xx response with its own platform key
(WeChat-Pay-public-key mode or platform-certificate mode, self-made keys and certificate), serves
/v3/certificates encrypted with the APIv3 key, and builds signed, AES-256-GCM encrypted
notifications. Tests drive the shopper's side through `pay()` and `settle_refund()`.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from siyu.payments import wechat_wire as wire

_KEYS: list = []


def _cached_key(i: int):
    """RSA key generation is slow; a few keys, kept under var/ between runs, serve every test."""
    from django.conf import settings

    from siyu.payments.devpay import _key_file

    while len(_KEYS) <= i:
        pem = _key_file(settings.VAR_DIR / "test-keys", f"fake_wechatpay_{len(_KEYS)}.pem")
        _KEYS.append(wire.load_private(pem))
    return _KEYS[i]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class FakeWeChatPay:
    def __init__(
        self,
        *,
        mode: str = "public_key",
        mchid: str = "1900000109",
        appid: str = "wx8888888888888888",
        apiv3_key: str = "0123456789abcdefGHIJKLMNOPQRSTUV",
    ) -> None:
        assert mode in ("public_key", "certificate")
        self.mode = mode
        self.mchid = mchid
        self.appid = appid
        self.apiv3_key = apiv3_key
        self.merchant_key = _cached_key(0)
        self.merchant_serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
        self.public_key_id = "PUB_KEY_ID_0119000001092024112100181700000000"
        self.platform_keys: list = [_cached_key(1)]
        self.cert_serials: list[int] = [random.getrandbits(63) | (1 << 62)]
        self.certs: list[str] = [self._certificate(0)]
        self.trades: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_next: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self.app, server_class=_Server, handler_class=_Quiet
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- keys --------------------------------------------------------------------------------

    def _certificate(self, i: int) -> str:
        return wire.self_signed_certificate(
            self.platform_keys[i], serial=self.cert_serials[i], common_name="Tenpay.com Root CA"
        )

    @property
    def platform_key(self):
        return self.platform_keys[-1]

    @property
    def serial(self) -> str:
        if self.mode == "public_key":
            return self.public_key_id
        return wire.serial_hex(self.cert_serials[-1])

    def platform_public_pem(self) -> str:
        return wire.public_pem(self.platform_key)

    def write_cert_dir(self, directory) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for serial, cert in zip(self.cert_serials, self.certs, strict=True):
            (directory / f"{wire.serial_hex(serial)}.pem").write_text(cert)

    def rotate_certificate(self) -> None:
        """WeChat Pay starts signing with a new platform certificate the merchant has not seen."""
        self.platform_keys.append(_cached_key(len(self.platform_keys) + 1))
        self.cert_serials.append(random.getrandbits(63) | (1 << 62))
        self.certs.append(self._certificate(len(self.platform_keys) - 1))

    # --- HTTP ---------------------------------------------------------------------------------

    def _respond(self, start_response, status: int, payload=None, *, sign: bool = True):
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False)
        headers = [("Content-Type", "application/json; charset=utf-8")]
        headers.append(("Request-ID", secrets.token_hex(16)))
        if 200 <= status < 300 and sign:
            headers.extend(wire.signed_headers(self.platform_key, self.serial, body).items())
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized"}.get(
            status, "Error"
        )
        start_response(f"{status} {reason}", headers)
        return [body.encode()]

    def _error(self, start_response, status: int, code: str, message: str):
        return self._respond(start_response, status, {"code": code, "message": message})

    def app(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        signed_path = f"{path}?{query}" if query else path
        record = {"method": method, "path": signed_path, "body": body, "environ": environ}
        self.requests.append(record)
        auth = wire.verify_authorization(
            environ.get("HTTP_AUTHORIZATION", ""),
            method=method,
            path=signed_path,
            body=body,
            public_key=self.merchant_key.public_key(),
        )
        if auth is None or auth["mchid"] != self.mchid or auth["serial_no"] != self.merchant_serial:
            return self._error(start_response, 401, "SIGN_ERROR", "签名错误")
        wrong_serial = environ.get("HTTP_WECHATPAY_SERIAL") != self.public_key_id
        if self.mode == "public_key" and path != "/v3/certificates" and wrong_serial:
            return self._error(start_response, 400, "PARAM_ERROR", "Wechatpay-Serial 错误")
        if self.fail_next:
            status, code, message = self.fail_next.pop(0)
            return self._error(start_response, status, code, message)
        data = json.loads(body) if body else {}
        parts = path.strip("/").split("/")
        with self._lock:
            if method == "POST" and path in (
                "/v3/pay/transactions/jsapi",
                "/v3/pay/transactions/h5",
            ):
                return self._prepay(
                    start_response, data, "MWEB" if path.endswith("h5") else "JSAPI"
                )
            if method == "GET" and parts[:4] == ["v3", "pay", "transactions", "out-trade-no"]:
                if parse_qs(query).get("mchid") != [self.mchid]:
                    return self._error(start_response, 400, "PARAM_ERROR", "mchid 错误")
                trade = self.trades.get(parts[4])
                if trade is None:
                    return self._error(start_response, 404, "ORDER_NOT_EXIST", "订单不存在")
                return self._respond(start_response, 200, self.trade_payload(trade))
            if method == "POST" and len(parts) == 6 and parts[5] == "close":
                trade = self.trades.get(parts[4])
                if trade is None:
                    return self._error(start_response, 404, "ORDER_NOT_EXIST", "订单不存在")
                if trade["trade_state"] in ("SUCCESS", "REFUND"):
                    return self._error(start_response, 400, "ORDERPAID", "订单已支付")
                trade["trade_state"] = "CLOSED"
                return self._respond(start_response, 204)
            if method == "POST" and path == "/v3/refund/domestic/refunds":
                return self._refund(start_response, data)
            if method == "GET" and parts[:4] == ["v3", "refund", "domestic", "refunds"]:
                refund = self.refunds.get(parts[4])
                if refund is None:
                    return self._error(start_response, 404, "RESOURCE_NOT_EXISTS", "退款单不存在")
                return self._respond(start_response, 200, self.refund_payload(refund))
            if method == "GET" and path == "/v3/certificates":
                return self._respond(start_response, 200, self._certificates())
        return self._error(start_response, 404, "NOT_FOUND", "no such API")

    def _prepay(self, start_response, data: dict, trade_type: str):
        required = ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount")
        if any(not data.get(k) for k in required) or data["mchid"] != self.mchid:
            return self._error(start_response, 400, "PARAM_ERROR", "参数错误")
        if trade_type == "JSAPI" and not (data.get("payer") or {}).get("openid"):
            return self._error(start_response, 400, "PARAM_ERROR", "缺少 payer.openid")
        if trade_type == "MWEB" and not (data.get("scene_info") or {}).get("payer_client_ip"):
            return self._error(start_response, 400, "PARAM_ERROR", "缺少 scene_info")
        no = data["out_trade_no"]
        trade = self.trades.get(no)
        if trade is not None:
            if trade["trade_state"] in ("SUCCESS", "REFUND"):
                return self._error(start_response, 400, "ORDERPAID", "该订单已支付")
            if trade["amount"]["total"] != data["amount"]["total"]:
                return self._error(start_response, 400, "INVALID_REQUEST", "201 商户订单号重复")
        else:
            trade = {
                "appid": data["appid"],
                "mchid": self.mchid,
                "out_trade_no": no,
                "trade_type": trade_type,
                "trade_state": "NOTPAY",
                "trade_state_desc": "未支付",
                "amount": {"total": data["amount"]["total"], "currency": "CNY"},
                "prepay_id": "wx" + secrets.token_hex(14),
                "notify_url": data["notify_url"],
                "payer": data.get("payer") or {},
                "request": data,
            }
            self.trades[no] = trade
        if trade_type == "MWEB":
            return self._respond(
                start_response,
                200,
                {
                    "h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb"
                    f"?prepay_id={trade['prepay_id']}&package=2746219290"
                },
            )
        return self._respond(start_response, 200, {"prepay_id": trade["prepay_id"]})

    def _refund(self, start_response, data: dict):
        no = data.get("out_refund_no")
        trade = next(
            (
                t
                for t in self.trades.values()
                if t.get("transaction_id") == data.get("transaction_id")
                or t["out_trade_no"] == data.get("out_trade_no")
            ),
            None,
        )
        if not no or trade is None:
            return self._error(start_response, 404, "RESOURCE_NOT_EXISTS", "订单不存在")
        amount = data.get("amount") or {}
        if no in self.refunds:
            existing = self.refunds[no]
            if existing["amount"]["refund"] != amount.get("refund"):
                return self._error(start_response, 400, "INVALID_REQUEST", "退款参数不一致")
            return self._respond(start_response, 200, self.refund_payload(existing))
        if trade["trade_state"] not in ("SUCCESS", "REFUND"):
            return self._error(start_response, 400, "INVALID_REQUEST", "订单未支付")
        if amount.get("total") != trade["amount"]["total"]:
            return self._error(start_response, 400, "PARAM_ERROR", "订单金额不一致")
        taken = sum(
            r["amount"]["refund"]
            for r in self.refunds.values()
            if r["out_trade_no"] == trade["out_trade_no"] and r["status"] != "CLOSED"
        )
        if taken + amount.get("refund", 0) > trade["amount"]["total"]:
            return self._error(start_response, 400, "INVALID_REQUEST", "退款金额超过订单可退金额")
        refund = {
            "refund_id": "50" + secrets.token_hex(12),
            "out_refund_no": no,
            "transaction_id": trade.get("transaction_id", ""),
            "out_trade_no": trade["out_trade_no"],
            "status": "PROCESSING",
            "reason": data.get("reason", ""),
            "notify_url": data.get("notify_url", ""),
            "amount": {"refund": amount["refund"], "total": trade["amount"]["total"]},
            "create_time": wire.china_time(datetime.now(UTC)),
        }
        self.refunds[no] = refund
        trade["trade_state"] = "REFUND"
        return self._respond(start_response, 200, self.refund_payload(refund))

    def _certificates(self) -> dict:
        now = datetime.now(UTC)
        return {
            "data": [
                {
                    "serial_no": wire.serial_hex(serial),
                    "effective_time": wire.china_time(now - timedelta(days=1)),
                    "expire_time": wire.china_time(now + timedelta(days=365)),
                    "encrypt_certificate": wire.encrypt_resource(
                        self.apiv3_key,
                        cert,
                        associated_data="certificate",
                        original_type="certificate",
                    ),
                }
                for serial, cert in zip(self.cert_serials, self.certs, strict=True)
            ]
        }

    # --- payloads ------------------------------------------------------------------------------

    def trade_payload(self, trade: dict) -> dict:
        payload = {
            k: trade[k]
            for k in (
                "appid",
                "mchid",
                "out_trade_no",
                "trade_type",
                "trade_state",
                "trade_state_desc",
            )
        }
        payload["amount"] = dict(trade["amount"])
        if trade["trade_state"] in ("SUCCESS", "REFUND"):
            payload.update(
                {
                    "transaction_id": trade["transaction_id"],
                    "bank_type": "CMC",
                    "attach": "",
                    "success_time": trade["success_time"],
                    "payer": {"openid": (trade["payer"] or {}).get("openid", "oUpF8uMuAJO")},
                }
            )
            payload["amount"].update(
                {"payer_total": trade["amount"]["total"], "payer_currency": "CNY"}
            )
        return payload

    def refund_payload(self, refund: dict, *, notification: bool = False) -> dict:
        total = refund["amount"]["total"]
        payload = {
            "mchid": self.mchid,
            "refund_id": refund["refund_id"],
            "out_refund_no": refund["out_refund_no"],
            "transaction_id": refund["transaction_id"],
            "out_trade_no": refund["out_trade_no"],
            "user_received_account": "招商银行信用卡0403",
        }
        amount = {
            "total": total,
            "refund": refund["amount"]["refund"],
            "payer_total": total,
            "payer_refund": refund["amount"]["refund"],
        }
        if refund.get("success_time"):
            payload["success_time"] = refund["success_time"]
        if notification:
            payload.update({"refund_status": refund["status"], "amount": amount})
        else:
            amount.update({"currency": "CNY", "discount_refund": 0})
            payload.update(
                {
                    "channel": "ORIGINAL",
                    "status": refund["status"],
                    "create_time": refund["create_time"],
                    "funds_account": "AVAILABLE",
                    "amount": amount,
                }
            )
        return payload

    # --- the shopper's and WeChat Pay's side ----------------------------------------------------

    def pay(self, out_trade_no: str) -> dict:
        with self._lock:
            trade = self.trades[out_trade_no]
            trade["trade_state"] = "SUCCESS"
            trade["trade_state_desc"] = "支付成功"
            trade["transaction_id"] = "42000" + "".join(random.choices("0123456789", k=23))
            trade["success_time"] = wire.china_time(datetime.now(UTC))
            return self.trade_payload(trade)

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> dict:
        with self._lock:
            refund = self.refunds[out_refund_no]
            refund["status"] = status
            if status == "SUCCESS":
                refund["success_time"] = wire.china_time(datetime.now(UTC))
            return refund

    def sign(self, body: str, *, timestamp: int | None = None, key=None, serial=None) -> dict:
        return wire.signed_headers(
            key or self.platform_key, serial or self.serial, body, timestamp=timestamp
        )

    def notification(
        self,
        resource: dict,
        *,
        event_type: str = "TRANSACTION.SUCCESS",
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict, str]:
        original_type = "transaction" if event_type.startswith("TRANSACTION") else "refund"
        body = wire.notification_body(
            event_id=event_id or f"EV-{int(time.time())}{secrets.token_hex(4)}",
            event_type=event_type,
            summary="支付成功" if original_type == "transaction" else "退款状态变更",
            original_type=original_type,
            resource=resource,
            apiv3_key=self.apiv3_key,
        )
        return self.sign(body, timestamp=timestamp), body

    def payment_notification(self, out_trade_no: str, **kwargs) -> tuple[dict, str]:
        return self.notification(self.trade_payload(self.trades[out_trade_no]), **kwargs)

    def refund_notification(self, out_refund_no: str, **kwargs) -> tuple[dict, str]:
        refund = self.refunds[out_refund_no]
        kwargs.setdefault("event_type", f"REFUND.{refund['status']}")
        return self.notification(self.refund_payload(refund, notification=True), **kwargs)
