"""What a member gets right now: the best of their tier's and their valid card's benefits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from ..models import CardPlan, CardStatus, Member, MemberCard, Tier


@dataclass
class Benefits:
    tier: Tier | None = None
    card: MemberCard | None = None

    def _both(self, name: str):
        tier_value = getattr(self.tier, name) if self.tier else None
        card_value = getattr(self.card.plan, name) if self.card else None
        return tier_value, card_value

    @property
    def discount_percent(self) -> int:
        return max(v or 0 for v in self._both("discount_percent"))

    @property
    def member_price(self) -> bool:
        return any(self._both("member_price"))

    @property
    def free_shipping(self) -> bool:
        return any(self._both("free_shipping"))

    @property
    def points_multiplier_percent(self) -> int:
        values = [v for v in self._both("points_multiplier_percent") if v]
        return max(values) if values else 100

    @property
    def any(self) -> bool:
        return bool(self.discount_percent or self.member_price or self.free_shipping)

    def card_only(self, name: str) -> bool:
        """The card brings this benefit and the tier does not (so using it uses the card)."""
        tier_value, card_value = self._both(name)
        return bool(card_value) and not tier_value


def valid_card(customer_id: int, at: datetime | None = None) -> MemberCard | None:
    at = at or timezone.now()
    return (
        MemberCard.objects.select_related("plan")
        .filter(
            customer_id=customer_id,
            status=CardStatus.ACTIVE,
            starts_at__lte=at,
            ends_at__gt=at,
        )
        .order_by("starts_at")
        .first()
    )


def for_customer(customer_id: int, *, at: datetime | None = None) -> Benefits:
    member = Member.objects.select_related("tier").filter(customer_id=customer_id).first()
    return Benefits(tier=member.tier if member else None, card=valid_card(customer_id, at))


def card_sku_ids() -> set[int]:
    return set(CardPlan.objects.values_list("sku_id", flat=True))


def save_member_price(*, actor, sku_code: str, price_fen: int):
    """Set (or, with a negative price, remove) a SKU's member price."""
    from django.utils.translation import gettext as _

    from siyu.catalog.models import Sku
    from siyu.core import audit
    from siyu.core.access import authorize
    from siyu.core.errors import ValidationFailed

    from ..models import MemberPrice

    authorize(actor, "membership.manage")
    sku = Sku.objects.filter(code=(sku_code or "").strip()).first()
    if sku is None:
        raise ValidationFailed(fields={"sku_code": _("No SKU has this code.")})
    if price_fen >= sku.price_fen:
        raise ValidationFailed(
            fields={"price_fen": _("A member price must be below the SKU's price.")}
        )
    found, _created = MemberPrice.objects.update_or_create(
        sku=sku, defaults={"price_fen": price_fen, "updated_at": timezone.now()}
    )
    audit.record(actor, "membership.member_price_set", obj=found, data={"price_fen": price_fen})
    return found
