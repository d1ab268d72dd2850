"""Identity normalisation: the one definition of what counts as the same person.

Used by single-record resolution (customers.services) and the bulk import path alike, so a phone
typed in the console and the same phone in a Tmall export resolve to the same customer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from siyu.core import crypto

from .models import IdentityKind

# Identities unique to one person: sharing one means being the same customer.
STRONG_KINDS = frozenset(
    {
        IdentityKind.PHONE,
        IdentityKind.UNIONID,
        IdentityKind.OPENID,
        IdentityKind.WECOM,
        IdentityKind.TMALL,
        IdentityKind.JD,
        IdentityKind.DOUYIN,
        IdentityKind.PDD,
        IdentityKind.YOUZAN,
        IdentityKind.STORE_MEMBER,
        IdentityKind.EMAIL,
    }
)

# The buyer-id identity each platform's exports carry.
PLATFORM_IDENTITY = {
    "tmall": IdentityKind.TMALL,
    "jd": IdentityKind.JD,
    "douyin": IdentityKind.DOUYIN,
    "pdd": IdentityKind.PDD,
    "youzan": IdentityKind.YOUZAN,
}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MASKED = re.compile(r"\*{2,}")


def normalize_identity(kind: str, raw: object) -> str | None:
    """Canonical text for an identity value, or None when it cannot identify anyone
    (empty, masked like 138****1234 or 张**, malformed)."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text or _MASKED.search(text):
        return None
    if kind == IdentityKind.PHONE:
        return crypto.normalize_phone(text)
    if kind == IdentityKind.EMAIL:
        text = text.lower()
        return text if _EMAIL.match(text) else None
    # platform ids keep their case; surrounding spaces never matter
    return text


def identity_hash(kind: str, normalized: str) -> str:
    return crypto.lookup_hash(kind, normalized)


# When one incoming record matches *different* customers through different identities (its phone
# belongs to one, its unionid to another), it attaches to the customer found through the
# highest-ranked identity here (the lowest customer id on a tie); every other customer becomes a
# MergeSuggestion with it. Nothing is merged automatically.
RESOLUTION_ORDER: tuple[str, ...] = (
    IdentityKind.PHONE,
    IdentityKind.UNIONID,
    IdentityKind.WECOM,
    IdentityKind.OPENID,
    IdentityKind.TMALL,
    IdentityKind.JD,
    IdentityKind.DOUYIN,
    IdentityKind.PDD,
    IdentityKind.YOUZAN,
    IdentityKind.STORE_MEMBER,
    IdentityKind.EMAIL,
)
_RANK = {kind: i for i, kind in enumerate(RESOLUTION_ORDER)}


def choose_customer(matches: Iterable[tuple[str, int]]) -> tuple[int | None, list[int]]:
    """Given the (identity kind, customer id) pairs one incoming record matched, return the customer
    it attaches to and the other distinct customers, each to be suggested for a merge with it."""
    ranked = sorted(set(matches), key=lambda m: (_RANK.get(m[0], len(_RANK)), m[1]))
    if not ranked:
        return None, []
    chosen = ranked[0][1]
    others = sorted({cid for _kind, cid in ranked if cid != chosen})
    return chosen, others


def suggestion_pair(a: int, b: int) -> tuple[int, int]:
    """MergeSuggestion stores each pair once, smaller id first (a database CHECK enforces it)."""
    return (a, b) if a < b else (b, a)


def phone_columns(raw: object) -> dict[str, str]:
    """The Customer columns derived from a phone: whoever writes Customer.phone (console, API,
    imports) writes all three together, so hash search and 尾号 search agree."""
    phone = normalize_identity(IdentityKind.PHONE, raw)
    if not phone:
        return {"phone": "", "phone_hash": "", "phone_last4": ""}
    return {
        "phone": phone,
        "phone_hash": identity_hash(IdentityKind.PHONE, phone),
        "phone_last4": phone[-4:],
    }


def rehash_all(batch_size: int = 2000) -> tuple[int, int]:
    """Recompute every stored lookup hash from its decrypted value, after the data key changed.

    Returns (customers, identities) re-keyed. An identity whose value cannot be normalised any more
    keeps its hash (it could not have been found by value anyway)."""
    from .models import Customer, Identity

    customers = identities = 0
    batch: list = []
    for customer in Customer.objects.exclude(phone="").only("pk", "phone").iterator(batch_size):
        customer.phone_hash = phone_columns(customer.phone)["phone_hash"]
        batch.append(customer)
        if len(batch) >= batch_size:
            customers += Customer.objects.bulk_update(batch, ["phone_hash"])
            batch = []
    customers += Customer.objects.bulk_update(batch, ["phone_hash"]) if batch else 0
    batch = []
    for identity in (
        Identity.objects.exclude(value="").only("pk", "kind", "value").iterator(batch_size)
    ):
        normalized = normalize_identity(identity.kind, identity.value)
        if not normalized:
            continue
        identity.value_hash = identity_hash(identity.kind, normalized)
        batch.append(identity)
        if len(batch) >= batch_size:
            identities += Identity.objects.bulk_update(batch, ["value_hash"])
            batch = []
    identities += Identity.objects.bulk_update(batch, ["value_hash"]) if batch else 0
    return customers, identities
