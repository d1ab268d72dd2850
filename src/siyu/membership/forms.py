from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.money import BadAmount, format_fen, yuan_to_fen

from .models import CardPlan, ProductPointsRule, ProgramSettings, RewardKind, Tier


class YuanField(forms.CharField):
    """An amount typed in yuan ("365" or "12.50"), cleaned to integer fen."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 14)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, int):
            return format_fen(value, symbol=False)
        return value

    def clean(self, value):
        value = super().clean(value)
        if value in ("", None):
            return 0
        try:
            fen = yuan_to_fen(value)
        except BadAmount:
            raise forms.ValidationError(_("Enter an amount such as 10.00."))
        if fen < 0:
            raise forms.ValidationError(_("Cannot be negative."))
        return fen


class ProgramForm(forms.ModelForm):
    earn_min_order_fen = YuanField(label=_("Minimum order to earn points (yuan)"), required=False)
    referral_cashback_fen = YuanField(label=_("Fixed cashback (yuan)"), required=False)
    referral_min_order_fen = YuanField(
        label=_("Friend's first order at least (yuan)"), required=False
    )
    referral_cap_fen = YuanField(
        label=_("Cashback per customer per month at most (yuan)"), required=False
    )
    min_withdrawal_fen = YuanField(label=_("Minimum cashback withdrawal (yuan)"), required=False)

    class Meta:
        model = ProgramSettings
        fields = [
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
        ]

    def __init__(self, *args, coupons_available: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not coupons_available:
            self.fields["referral_reward_kind"].choices = [
                c for c in RewardKind.choices if c[0] != RewardKind.COUPON
            ]
            del self.fields["referral_coupon_id"]


class TierForm(forms.ModelForm):
    min_spend_fen = YuanField(label=_("Spend to reach it (yuan, rolling window)"))

    class Meta:
        model = Tier
        fields = [
            "name",
            "rank",
            "min_spend_fen",
            "discount_percent",
            "member_price",
            "free_shipping",
            "points_multiplier_percent",
            "coupon_id",
            "description",
        ]

    def __init__(self, *args, coupons_available: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not coupons_available:
            del self.fields["coupon_id"]


class CardPlanForm(forms.ModelForm):
    sku_code = forms.CharField(
        label=_("SKU code of the card product"),
        max_length=64,
        required=False,
        help_text=_(
            "Create the card as a catalogue product (with ample stock) and give its SKU code."
        ),
    )

    class Meta:
        model = CardPlan
        fields = [
            "name",
            "duration_days",
            "discount_percent",
            "member_price",
            "free_shipping",
            "points_multiplier_percent",
            "monthly_coupon_id",
            "full_refund_days",
            "is_active",
            "description",
        ]

    def __init__(self, *args, coupons_available: bool = False, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["sku_code"]
        else:
            self.fields["sku_code"].required = True
        if not coupons_available:
            del self.fields["monthly_coupon_id"]


class AdjustForm(forms.Form):
    customer_id = forms.IntegerField(label=_("Customer id"), min_value=1)
    points = forms.IntegerField(label=_("Points (+ to add, − to remove)"))
    reason = forms.CharField(label=_("Reason"), max_length=200)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class MemberPriceForm(forms.Form):
    sku_code = forms.CharField(label=_("SKU code"), max_length=64)
    price_fen = YuanField(label=_("Member price (yuan)"))


class ProductRuleForm(forms.Form):
    product_id = forms.IntegerField(label=_("Product id"), min_value=1)
    mode = forms.ChoiceField(label=_("Rule"), choices=ProductPointsRule.Mode.choices)
    value = forms.IntegerField(label=_("Value"), min_value=0, max_value=100000, initial=200)
