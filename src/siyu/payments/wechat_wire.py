"""WeChat Pay API v3's wire format, from WeChat Pay's side of the wire.

The dev provider plays WeChat Pay with these, and so does the test suite's fake WeChat Pay server:
responses and notifications are signed (SHA256-RSA2048 over "timestamp\\nnonce\\nbody\\n"), the
notification resource is AES-256-GCM encrypted with the merchant's APIv3 key, and merchant requests
carry a signed `Authorization: WECHATPAY2-SHA256-RSA2048 ...` header. The merchant side — our
adapter — verifies all of this through the `wechatpayv3` SDK, so the two halves are written
independently and check each other.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import time
from datetime import UTC, datetime, timedelta, timezone

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
_ALPHABET = string.ascii_letters + string.digits


def nonce_str(length: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def generate_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key) -> str:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private(pem: str) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(pem.encode(), password=None)


def self_signed_certificate(
    key: rsa.RSAPrivateKey, *, serial: int, common_name: str, days: int = 365
) -> str:
    """A certificate like WeChat Pay's platform certificates (serial = the Wechatpay-Serial)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def serial_hex(serial: int) -> str:
    return format(serial, "X")


def sign(key: rsa.RSAPrivateKey, *lines: str) -> str:
    message = "".join(f"{line}\n" for line in lines).encode()
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(public_key, signature: str, *lines: str) -> bool:
    message = "".join(f"{line}\n" for line in lines).encode()
    try:
        public_key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_headers(
    key: rsa.RSAPrivateKey,
    serial: str,
    body: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The Wechatpay-* headers WeChat Pay puts on a response or a notification."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or nonce_str()
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(key, str(timestamp), nonce, body),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def encrypt_resource(
    apiv3_key: str, plaintext: str, *, associated_data: str, original_type: str
) -> dict:
    nonce = nonce_str(12)
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext.encode(), associated_data.encode()
    )
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def notification_body(
    *,
    event_id: str,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict,
    apiv3_key: str,
    create_time: datetime | None = None,
) -> str:
    """A notification body as WeChat Pay posts it (resource encrypted with the APIv3 key)."""
    created = (create_time or datetime.now(UTC)).astimezone(_CHINA)
    return json.dumps(
        {
            "id": event_id,
            "create_time": created.isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": encrypt_resource(
                apiv3_key,
                json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
                associated_data=original_type,
                original_type=original_type,
            ),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def china_time(moment: datetime) -> str:
    """RFC 3339 in +08:00, as WeChat Pay writes times ('2026-01-23T10:45:12+08:00')."""
    return moment.astimezone(_CHINA).isoformat(timespec="seconds")


_AUTH = re.compile(r'(\w+)="([^"]*)"')


def parse_authorization(header: str) -> dict[str, str] | None:
    if not header or not header.startswith(SIGNATURE_TYPE + " "):
        return None
    return dict(_AUTH.findall(header[len(SIGNATURE_TYPE) + 1 :]))


def verify_authorization(
    header: str, *, method: str, path: str, body: str, public_key, max_age: int = 300
) -> dict[str, str] | None:
    """Check a merchant request's Authorization header; the parsed fields when genuine."""
    fields = parse_authorization(header)
    if not fields or not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= set(
        fields
    ):
        return None
    try:
        age = abs(time.time() - int(fields["timestamp"]))
    except ValueError:
        return None
    if age > max_age:
        return None
    if not verify(
        public_key,
        fields["signature"],
        method,
        path,
        fields["timestamp"],
        fields["nonce_str"],
        body,
    ):
        return None
    return fields
