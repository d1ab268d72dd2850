"""Read-only lookups other apps need about a customer (they never read identities directly)."""

from __future__ import annotations

from .models import Identity, IdentityKind


def wechat_openid(customer_id: int) -> str | None:
    """The shopper's most recent WeChat openid (payments needs it to pay inside WeChat)."""
    identity = (
        Identity.objects.filter(customer_id=customer_id, kind=IdentityKind.OPENID)
        .order_by("-created_at", "-id")
        .first()
    )
    return identity.value if identity and identity.value else None
