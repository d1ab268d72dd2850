"""A local fake of WeChat Pay's merchant-transfer API (商家转账), speaking the real protocol:
requests must carry a valid WECHATPAY2-SHA256-RSA2048 signature from the merchant key, answers
are signed with the platform key (public-key mode), `user_name` must be encrypted to the platform
key, and a repeated `out_bill_no` is the same transfer, never a second one."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
MCHID = "1900000109"
APPID = "wx8888888888888888"
BILLS = "/v3/fund-app/mch-transfer/transfer-bills"


def _pem_private(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _pem_public(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Keys:
    merchant: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    platform: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def adapter_config(self, gateway: str) -> dict:
        return {
            "mchid": MCHID,
            "appid": APPID,
            "private_key": _pem_private(self.merchant),
            "cert_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            "apiv3_key": "a" * 32,
            "public_key": _pem_public(self.platform),
            "public_key_id": PUBLIC_KEY_ID,
            "gateway": gateway,
            "transfer_scene_id": "1005",
            "transfer_perception": "劳务报酬",
            "transfer_report_infos": [
                {"info_type": "岗位类型", "info_content": "分销员"},
                {"info_type": "报酬说明", "info_content": "分销佣金"},
            ],
        }


class FakeWeChatTransfers:
    """Behaviour per payee openid: "success" (paid at once), "confirm" (WAIT_USER_CONFIRM until
    `confirm()`), "fail" (FAIL), "not_enough" (HTTP 403 NOT_ENOUGH, no bill), "lost_answer"
    (the bill is created but the answer is an HTTP 500, as after a timeout)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.bills: dict[str, dict] = {}
        self.behaviour: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.tamper_next = False
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                fake._handle(self, "POST")

            def do_GET(self):
                fake._handle(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what a payee does in WeChat ------------------------------------------------------------

    def confirm(self, out_bill_no: str) -> None:
        with self.lock:
            bill = self.bills[out_bill_no]
            bill.update(state="SUCCESS", update_time=_now())
            bill.pop("package_info", None)

    def expire(self, out_bill_no: str) -> None:
        """The payee never confirmed: WeChat cancels the bill after 24 hours."""
        with self.lock:
            self.bills[out_bill_no].update(
                state="CANCELLED", fail_reason="TRANSFER_EXPIRED", update_time=_now()
            )

    # --- protocol -------------------------------------------------------------------------------

    def _verify_request(self, handler, method: str, body: str) -> bool:
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return False
        parts = dict(re.findall(r'(\w+)="([^"]*)"', auth))
        if parts.get("mchid") != MCHID:
            return False
        message = f"{method}\n{handler.path}\n{parts['timestamp']}\n{parts['nonce_str']}\n{body}\n"
        try:
            self.keys.merchant.public_key().verify(
                b64decode(parts["signature"]), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, KeyError, ValueError):
            return False
        return abs(time.time() - int(parts["timestamp"])) < 300

    def _send(self, handler, status: int, payload: dict, *, sign: bool = True) -> None:
        body = json.dumps(payload, ensure_ascii=False)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        if sign:
            ts, nonce = str(int(time.time())), secrets.token_hex(16)
            signature = self.keys.platform.sign(
                f"{ts}\n{nonce}\n{body}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            if self.tamper_next:
                self.tamper_next = False
                body = body.replace("SUCCESS", "FAIL")
            handler.send_header("Wechatpay-Timestamp", ts)
            handler.send_header("Wechatpay-Nonce", nonce)
            handler.send_header("Wechatpay-Signature", b64encode(signature).decode())
            handler.send_header("Wechatpay-Serial", PUBLIC_KEY_ID)
            handler.send_header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
        data = body.encode()
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        self.requests.append((method, handler.path))
        if not self._verify_request(handler, method, body):
            return self._send(handler, 401, {"code": "SIGN_ERROR", "message": "签名错误"})
        if method == "POST" and handler.path == BILLS:
            return self._create(handler, json.loads(body))
        prefix = f"{BILLS}/out-bill-no/"
        if method == "GET" and handler.path.startswith(prefix):
            with self.lock:
                bill = self.bills.get(handler.path[len(prefix) :])
            if bill is None:
                return self._send(handler, 404, {"code": "NOT_FOUND", "message": "记录不存在"})
            return self._send(handler, 200, _public(bill))
        return self._send(handler, 404, {"code": "NOT_FOUND", "message": "no such API"})

    def _create(self, handler, data: dict) -> None:
        required = ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount")
        if any(not data.get(k) for k in required) or data["appid"] != APPID:
            return self._send(handler, 400, {"code": "PARAM_ERROR", "message": "参数错误"})
        if not re.fullmatch(r"[0-9A-Za-z]{5,32}", data["out_bill_no"]):
            return self._send(handler, 400, {"code": "PARAM_ERROR", "message": "商户单号不合法"})
        if (
            data["transfer_scene_id"] == "1005"
            and len(data.get("transfer_scene_report_infos") or []) != 2
        ):
            return self._send(handler, 400, {"code": "PARAM_ERROR", "message": "报备信息不完整"})
        if "user_name" in data:
            if handler.headers.get("Wechatpay-Serial") != PUBLIC_KEY_ID:
                return self._send(
                    handler, 400, {"code": "PARAM_ERROR", "message": "证书序列号错误"}
                )
            self.keys.platform.decrypt(
                b64decode(data["user_name"]),
                padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
            )
        behaviour = self.behaviour.get(data["openid"], "success")
        with self.lock:
            existing = self.bills.get(data["out_bill_no"])
            if existing is not None:
                if existing["transfer_amount"] != data["transfer_amount"]:
                    return self._send(
                        handler, 400, {"code": "PARAM_ERROR", "message": "商户单号重复"}
                    )
                return self._send(handler, 200, _public(existing))
            if behaviour == "not_enough":
                return self._send(
                    handler, 403, {"code": "NOT_ENOUGH", "message": "商户账户余额不足"}
                )
            state = {"success": "SUCCESS", "fail": "FAIL", "confirm": "WAIT_USER_CONFIRM"}.get(
                behaviour, "SUCCESS"
            )
            bill = {
                "mch_id": MCHID,
                "out_bill_no": data["out_bill_no"],
                "transfer_bill_no": f"1330000071100999991182020050700019480{len(self.bills):03d}",
                "appid": APPID,
                "state": state,
                "transfer_amount": data["transfer_amount"],
                "transfer_remark": data.get("transfer_remark", ""),
                "openid": data["openid"],
                "create_time": _now(),
                "update_time": _now(),
            }
            if state == "WAIT_USER_CONFIRM":
                bill["package_info"] = "affffddafdfafddffda==" + secrets.token_hex(8)
            if state == "FAIL":
                bill["fail_reason"] = "ACCOUNT_NOT_VERIFIED"
            self.bills[data["out_bill_no"]] = bill
        if behaviour == "lost_answer":
            return self._send(handler, 500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
        return self._send(handler, 200, _public(bill))


def _public(bill: dict) -> dict:
    return {k: v for k, v in bill.items() if k not in ("mch_id",)}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.localtime())
