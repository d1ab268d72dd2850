"""Console forms: amounts in yuan (converted to fen), times in Asia/Shanghai."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Category, Sku
from siyu.core.money import BadAmount, yuan_to_fen

from .models import CouponKind, CouponScope, RefundPolicy, SaleKind


def _fen(value, field: str) -> int:
    if value in (None, ""):
        return 0
    try:
        return yuan_to_fen(value)
    except BadAmount:
        raise forms.ValidationError({field: _("Enter an amount in yuan such as 20 or 9.90.")})


def _ids(raw: str) -> list[int]:
    found = []
    for part in (raw or "").replace("，", ",").replace("\n", ",").split(","):
        part = part.strip()
        if part:
            if not part.isdigit():
                raise forms.ValidationError(_("Enter product ids separated by commas."))
            found.append(int(part))
    return found


class CouponForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    kind = forms.ChoiceField(label=_("Kind"), choices=CouponKind.choices)
    amount_yuan = forms.CharField(
        label=_("Amount off (yuan)"),
        required=False,
        help_text=_("For fixed-amount and spend-and-save coupons."),
    )
    percent_off = forms.IntegerField(
        label=_("Percent off"),
        required=False,
        min_value=1,
        max_value=99,
        help_text=_("20 means 20% off (8折)."),
    )
    max_discount_yuan = forms.CharField(
        label=_("Discount cap (yuan)"), required=False, help_text=_("Empty: no cap.")
    )
    min_spend_yuan = forms.CharField(
        label=_("Minimum spend (yuan)"),
        required=False,
        help_text=_("The threshold of a spend-and-save coupon; optional for the others."),
    )
    scope = forms.ChoiceField(label=_("Applies to"), choices=CouponScope.choices)
    product_ids = forms.CharField(
        label=_("Product ids"), required=False, help_text=_("Comma separated.")
    )
    categories = forms.ModelMultipleChoiceField(
        label=_("Categories"), queryset=Category.objects.order_by("name"), required=False
    )
    valid_from = forms.DateTimeField(
        label=_("Valid from"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    valid_until = forms.DateTimeField(
        label=_("Valid until"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    valid_days = forms.IntegerField(
        label=_("Or valid for N days after claiming"), required=False, min_value=1
    )
    total_quantity = forms.IntegerField(
        label=_("Total quantity"), required=False, min_value=1, help_text=_("Empty: unlimited.")
    )
    per_customer_limit = forms.IntegerField(
        label=_("Per customer"), min_value=1, max_value=100, initial=1
    )
    claimable = forms.BooleanField(
        label=_("Shown in the coupon centre"), required=False, initial=True
    )
    refund_policy = forms.ChoiceField(label=_("On refund"), choices=RefundPolicy.choices)
    activate = forms.BooleanField(label=_("Start giving it out now"), required=False)

    def clean(self):
        data = super().clean()
        data["amount_fen"] = _fen(data.get("amount_yuan"), "amount_yuan")
        max_cap = data.get("max_discount_yuan")
        data["max_discount_fen"] = _fen(max_cap, "max_discount_yuan") if max_cap else None
        data["min_spend_fen"] = _fen(data.get("min_spend_yuan"), "min_spend_yuan")
        try:
            data["product_id_list"] = _ids(data.get("product_ids", ""))
        except forms.ValidationError as exc:
            raise forms.ValidationError({"product_ids": exc.messages})
        return data


class IssueForm(forms.Form):
    segment = forms.TypedChoiceField(
        label=_("Segment"), required=False, coerce=int, empty_value=None, choices=()
    )
    customer_ids = forms.CharField(
        label=_("Or customer ids"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Comma or line separated."),
    )
    notify = forms.BooleanField(
        label=_("Notify customers who accept marketing on this channel"), required=False
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=())

    def __init__(self, *args, segments=(), **kwargs):
        from siyu.customers.models import ConsentChannel

        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [("", "—")] + [(s.pk, s.name) for s in segments]
        self.fields["channel"].choices = ConsentChannel.choices

    def clean(self):
        data = super().clean()
        try:
            data["customer_id_list"] = _ids(data.get("customer_ids", ""))
        except forms.ValidationError:
            raise forms.ValidationError({"customer_ids": _("Enter customer ids.")})
        if not data.get("segment") and not data["customer_id_list"]:
            raise forms.ValidationError(_("Choose a segment or enter customer ids."))
        return data


class SaleForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=60)
    kind = forms.ChoiceField(label=_("Kind"), choices=SaleKind.choices)
    starts_at = forms.DateTimeField(
        label=_("Starts at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=_("Ends at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    per_customer_limit = forms.IntegerField(
        label=_("Per customer"), min_value=1, max_value=99, initial=1
    )
    items = forms.CharField(
        label=_("Items"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "SKU-00001, 99, 100"}),
        help_text=_("One SKU per line: SKU code, activity price in yuan, quota."),
    )
    publish = forms.BooleanField(label=_("Publish now"), required=False)

    def clean_items(self):
        rows = []
        for n, line in enumerate((self.cleaned_data["items"] or "").splitlines(), start=1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.replace("，", ",").split(",")]
            if len(parts) != 3:
                raise forms.ValidationError(
                    _("Line %(n)s: write SKU code, price, quota.") % {"n": n}
                )
            sku = Sku.objects.filter(code=parts[0]).first()
            if sku is None:
                raise forms.ValidationError(
                    _("Line %(n)s: no SKU with code %(code)s.") % {"n": n, "code": parts[0]}
                )
            try:
                price = yuan_to_fen(parts[1])
            except BadAmount:
                raise forms.ValidationError(_("Line %(n)s: the price is not an amount.") % {"n": n})
            if not parts[2].isdigit():
                raise forms.ValidationError(_("Line %(n)s: the quota is not a number.") % {"n": n})
            rows.append((sku.pk, price, int(parts[2])))
        if not rows:
            raise forms.ValidationError(_("Add at least one SKU."))
        return rows
