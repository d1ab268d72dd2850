"""Personal data at rest: AES-256-GCM encryption and keyed hashes derived from SIYU_DATA_KEY.

Ciphertexts carry a key id, so the key can be rotated: put the new key in SIYU_DATA_KEY and the old
one in SIYU_DATA_KEY_PREVIOUS, run `siyu rotate-data-key`, then drop the previous key.
Lookups never decrypt: a phone number is found through its keyed hash (HMAC-SHA256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_PREFIX = "v1"


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"siyu", info=purpose).derive(
        secret.encode()
    )


@lru_cache(maxsize=8)
def _keys(current: str, previous: str) -> tuple[dict[str, AESGCM], str, bytes]:
    ciphers: dict[str, AESGCM] = {}
    current_id = hashlib.sha256(current.encode()).hexdigest()[:8]
    ciphers[current_id] = AESGCM(_derive(current, b"pii-encryption"))
    if previous:
        ciphers[hashlib.sha256(previous.encode()).hexdigest()[:8]] = AESGCM(
            _derive(previous, b"pii-encryption")
        )
    return ciphers, current_id, _derive(current, b"pii-lookup-hash")


def _material() -> tuple[dict[str, AESGCM], str, bytes]:
    return _keys(settings.SIYU_DATA_KEY, getattr(settings, "SIYU_DATA_KEY_PREVIOUS", "") or "")


def encrypt(plaintext: str | None) -> str | None:
    """Encrypt a string; None and "" stay as they are (an absent value is not secret)."""
    if plaintext is None or plaintext == "":
        return plaintext
    ciphers, key_id, _hash_key = _material()
    nonce = os.urandom(12)
    sealed = ciphers[key_id].encrypt(nonce, plaintext.encode(), key_id.encode())
    return f"{_PREFIX}:{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def encryptor():
    """A fast `encrypt` for bulk paths (imports): the key is looked up once, not per value.
    Produces exactly what `encrypt` produces."""
    ciphers, key_id, _hash_key = _material()
    seal = ciphers[key_id].encrypt
    aad = key_id.encode()
    prefix = f"{_PREFIX}:{key_id}:"
    urandom = os.urandom
    b64 = base64.urlsafe_b64encode

    def encrypt_one(plaintext: str | None) -> str | None:
        if plaintext is None or plaintext == "":
            return plaintext
        nonce = urandom(12)
        return prefix + b64(nonce + seal(nonce, plaintext.encode(), aad)).decode()

    return encrypt_one


def lookup_hasher():
    """A fast `lookup_hash` for bulk paths: (kind, normalized_value) -> the same hex digest."""
    _ciphers, _key_id, hash_key = _material()
    digest = hmac.digest

    def hash_one(kind: str, normalized_value: str) -> str:
        return digest(hash_key, f"{kind}:{normalized_value}".encode(), "sha256").hex()

    return hash_one


def decrypt(token: str | None) -> str | None:
    if token is None or token == "":
        return token
    try:
        prefix, key_id, payload = token.split(":", 2)
    except ValueError:
        raise ValueError("not a siyu ciphertext") from None
    if prefix != _PREFIX:
        raise ValueError("unknown ciphertext version")
    ciphers, _current, _hash_key = _material()
    cipher = ciphers.get(key_id)
    if cipher is None:
        raise ValueError("ciphertext was made with a key that is not configured")
    raw = base64.urlsafe_b64decode(payload.encode())
    return cipher.decrypt(raw[:12], raw[12:], key_id.encode()).decode()


def is_current(token: str | None) -> bool:
    """True when the ciphertext already uses the current key (rotation skips it)."""
    if not token:
        return True
    _ciphers, key_id, _hash_key = _material()
    return token.split(":", 2)[1] == key_id


def lookup_hash(kind: str, normalized_value: str) -> str:
    """Keyed hash used to find a record by an identity without storing it in clear."""
    _ciphers, _key_id, hash_key = _material()
    return hmac.new(hash_key, f"{kind}:{normalized_value}".encode(), hashlib.sha256).hexdigest()


_NON_DIGITS = re.compile(r"\D+")
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str | None) -> str | None:
    """Return an 11-digit mainland mobile number, or None when the value is not a usable phone.

    Masked numbers such as 138****1234 are not identities and normalise to None.
    """
    if not raw:
        return None
    text = str(raw).strip()
    if "*" in text:
        return None
    digits = _NON_DIGITS.sub("", text)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if _MAINLAND_MOBILE.match(digits) else None


def mask_phone(phone: str | None) -> str:
    """138****1234 — what a role without the PII right sees."""
    if not phone:
        return ""
    if len(phone) >= 7:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * len(phone)


def mask_name(name: str | None) -> str:
    """张** — keeps the family name only."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_text(text: str | None, keep: int = 6) -> str:
    if not text:
        return ""
    return text[:keep] + "****" if len(text) > keep else "****"
