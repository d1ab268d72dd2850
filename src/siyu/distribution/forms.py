from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.money import BadAmount, format_fen, yuan_to_fen

from .models import BindingRule, DistributorLevel, JoinMode


def _percent_to_bp(value) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        bp = (Decimal(str(value).strip().rstrip("%")) * 100).quantize(Decimal("1"))
    except InvalidOperation:
        raise forms.ValidationError(_("Enter a percentage such as 10 or 12.5."))
    if bp < 0 or bp > 10000:
        raise forms.ValidationError(_("Between 0 and 100."))
    return int(bp)


class ProgramForm(forms.Form):
    """The programme's rules. Deliberately no fee or purchase-threshold field (docs/distribution.md)."""

    join_mode = forms.ChoiceField(label=_("How customers join"), choices=JoinMode.choices)
    levels = forms.TypedChoiceField(
        label=_("Commission levels"),
        coerce=int,
        choices=[
            (1, _("1 level: only the seller earns")),
            (2, _("2 levels: the seller and who recruited them")),
        ],
        help_text=_("Never more than two: three-level schemes are pyramid selling."),
    )
    binding_rule = forms.ChoiceField(label=_("Customer binding"), choices=BindingRule.choices)
    binding_days = forms.IntegerField(label=_("Binding days (N)"), min_value=1, max_value=3650)
    self_purchase_rebate = forms.BooleanField(
        label=_("Distributors earn commission on their own purchases"), required=False
    )
    after_sales_days = forms.IntegerField(
        label=_("After-sales window (days after completion)"), min_value=0, max_value=365
    )
    min_withdrawal = forms.CharField(label=_("Minimum withdrawal (yuan)"), max_length=12)

    def clean_min_withdrawal(self) -> int:
        try:
            fen = yuan_to_fen(self.cleaned_data["min_withdrawal"])
        except BadAmount:
            raise forms.ValidationError(_("Enter an amount such as 10.00."))
        if fen < 10:
            raise forms.ValidationError(_("At least ¥0.10 (WeChat Pay's smallest transfer)."))
        return fen

    @classmethod
    def initial_from(cls, settings_row) -> dict:
        return {
            "join_mode": settings_row.join_mode,
            "levels": settings_row.levels,
            "binding_rule": settings_row.binding_rule,
            "binding_days": settings_row.binding_days,
            "self_purchase_rebate": settings_row.self_purchase_rebate,
            "after_sales_days": settings_row.after_sales_days,
            "min_withdrawal": format_fen(settings_row.min_withdrawal_fen, symbol=False),
        }

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        data["min_withdrawal_fen"] = data.pop("min_withdrawal")
        return data


class LevelForm(forms.Form):
    level_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name"), max_length=50)
    rank = forms.IntegerField(label=_("Rank"), min_value=1, max_value=99)
    rate1 = forms.CharField(label=_("Seller's rate (%)"), max_length=8)
    rate2 = forms.CharField(
        label=_("Recruiter's rate (%)"),
        max_length=8,
        initial="0",
        help_text=_("Paid only when the programme has two levels."),
    )
    is_default = forms.BooleanField(label=_("Default for new distributors"), required=False)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)

    def clean_rate1(self) -> int:
        return _percent_to_bp(self.cleaned_data["rate1"])

    def clean_rate2(self) -> int:
        return _percent_to_bp(self.cleaned_data["rate2"])


class AddDistributorForm(forms.Form):
    customer_id = forms.IntegerField(label=_("Customer id"), min_value=1)
    display_name = forms.CharField(label=_("Shop name"), max_length=50, required=False)
    parent_code = forms.CharField(
        label=_("Recruited by (share code)"),
        max_length=12,
        required=False,
        help_text=_("Optional; must be a top-level distributor."),
    )
    level = forms.ModelChoiceField(
        label=_("Level"), queryset=DistributorLevel.objects.all(), required=False
    )


class ChangeLevelForm(forms.Form):
    level = forms.ModelChoiceField(label=_("Level"), queryset=DistributorLevel.objects.all())


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


class InvitationForm(forms.Form):
    max_uses = forms.IntegerField(label=_("Uses allowed"), min_value=1, max_value=10000, initial=1)
    days = forms.IntegerField(
        label=_("Valid for (days)"), min_value=1, max_value=3650, initial=30, required=False
    )
    note = forms.CharField(label=_("Note"), max_length=100, required=False)


class ProductRateForm(forms.Form):
    product = forms.CharField(label=_("Product id or SKU code"), max_length=64)
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=[
            ("percent", _("Percentage of the amount paid")),
            ("fixed", _("Fixed amount per item")),
        ],
    )
    level1 = forms.CharField(label=_("Seller (% or yuan per item)"), max_length=12)
    level2 = forms.CharField(label=_("Recruiter (% or yuan per item)"), max_length=12, initial="0")

    def _value(self, name: str) -> int:
        raw = self.cleaned_data[name]
        if self.cleaned_data.get("mode") == "fixed":
            try:
                return yuan_to_fen(raw)
            except BadAmount:
                raise forms.ValidationError(_("Enter an amount such as 5.00."))
        return _percent_to_bp(raw)

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                data["value1"] = self._value("level1")
                data["value2"] = self._value("level2")
            except forms.ValidationError as exc:
                self.add_error("level1", exc)
        return data
