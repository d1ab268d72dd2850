"""The membership programme's settings (one row)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import ValidationFailed

from ..models import ProgramSettings, RewardKind
from . import coupons

SETTING_FIELDS = (
    "points_enabled",
    "earn_points_per_yuan",
    "earn_min_order_fen",
    "redeem_fen_per_point",
    "redeem_max_percent",
    "redeem_max_points",
    "redeem_min_points",
    "points_valid_months",
    "tier_window_days",
    "tier_grace_days",
    "card_reminder_days",
    "referral_enabled",
    "referral_reward_kind",
    "referral_points",
    "referral_cashback_fen",
    "referral_cashback_bp",
    "referral_coupon_id",
    "referral_min_order_fen",
    "referral_cap_count",
    "referral_cap_fen",
    "min_withdrawal_fen",
)


def program() -> ProgramSettings:
    """The programme's settings (created with the defaults on first use)."""
    found = ProgramSettings.objects.filter(pk=1).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return ProgramSettings.objects.create(pk=1)
    except IntegrityError:
        return ProgramSettings.objects.get(pk=1)


def update_program(*, actor: Actor, **changes) -> ProgramSettings:
    authorize(actor, "membership.manage")
    unknown = set(changes) - set(SETTING_FIELDS)
    if unknown:
        raise ValidationFailed(
            _("Unknown membership settings: %(names)s.") % {"names": ", ".join(sorted(unknown))},
            fields={name: _("Not a setting.") for name in unknown},
        )
    with transaction.atomic():
        row = ProgramSettings.objects.select_for_update().get(pk=program().pk)
        before = {name: getattr(row, name) for name in SETTING_FIELDS}
        for name, value in changes.items():
            setattr(row, name, value)
        errors = {}
        if not 0 <= row.redeem_max_percent <= 100:
            errors["redeem_max_percent"] = _("Between 0 and 100.")
        if row.redeem_fen_per_point < 1:
            errors["redeem_fen_per_point"] = _("At least 1 fen.")
        if not 1 <= row.points_valid_months <= 120:
            errors["points_valid_months"] = _("Between 1 and 120 months.")
        if not 30 <= row.tier_window_days <= 1096:
            errors["tier_window_days"] = _("Between 30 and 1096 days.")
        if row.referral_reward_kind == RewardKind.COUPON and not row.referral_coupon_id:
            errors["referral_coupon_id"] = _("Choose the coupon to give.")
        elif row.referral_coupon_id and not coupons.exists(row.referral_coupon_id):
            errors["referral_coupon_id"] = _("No such coupon.")
        for name in (
            "earn_min_order_fen",
            "referral_cashback_fen",
            "referral_cap_fen",
            "min_withdrawal_fen",
            "referral_min_order_fen",
        ):
            if getattr(row, name) is None or getattr(row, name) < 0:
                errors[name] = _("Cannot be negative.")
        if row.referral_cashback_bp > 10000:
            errors["referral_cashback_bp"] = _("At most 10000 (100%).")
        if errors:
            raise ValidationFailed(_("Some settings are invalid."), fields=errors)
        row.updated_at = timezone.now()
        row.updated_by = actor.label[:150]
        row.save()
        after = {name: getattr(row, name) for name in SETTING_FIELDS}
        audit.record(
            actor,
            "membership.settings_changed",
            obj=row,
            data={k: [before[k], after[k]] for k in SETTING_FIELDS if before[k] != after[k]},
        )
    return row
