"""Console forms for the catalogue. Money is typed in yuan and stored in fen."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.money import BadAmount, format_fen, yuan_to_fen
from siyu.staff.models import Store

from .models import Brand, Fulfilment, Location, LocationKind, StockReason, Supplier
from .services import category_tree


class YuanField(forms.CharField):
    """¥ amount typed as "129" or "129.90"; cleaned to fen."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 16)
        super().__init__(*args, **kwargs)
        self.widget.attrs.setdefault("inputmode", "decimal")
        self.widget.attrs.setdefault("size", "8")

    def prepare_value(self, value):
        if isinstance(value, int):
            return format_fen(value, symbol=False).replace(",", "")
        return value

    def clean(self, value):
        value = super().clean(value)
        if value in (None, ""):
            return None
        try:
            fen = yuan_to_fen(value)
        except BadAmount:
            raise forms.ValidationError(_("Enter an amount in yuan, like 129.90."))
        if fen < 0:
            raise forms.ValidationError(_("Enter zero or more."))
        return fen


def category_choices(blank: str | None = None) -> list[tuple]:
    choices = [("", blank)] if blank is not None else []
    choices += [(c.pk, f"{'— ' * depth}{c.name}") for c, depth in category_tree()]
    return choices


class ProductForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    subtitle = forms.CharField(label=_("Subtitle"), max_length=200, required=False)
    category = forms.TypedChoiceField(label=_("Category"), coerce=int)
    brand = forms.ModelChoiceField(
        label=_("Brand"), queryset=Brand.objects.filter(is_active=True), required=False
    )
    spec_names = forms.CharField(
        label=_("Spec names"),
        required=False,
        help_text=_("Comma-separated, e.g. 规格, 颜色. Each SKU gives a value for each."),
    )
    per_customer_limit = forms.IntegerField(
        label=_("Limit per customer"), min_value=1, required=False
    )
    usage_days = forms.IntegerField(label=_("Usage cycle (days)"), min_value=1, required=False)
    is_featured = forms.BooleanField(label=_("Featured on the mall home page"), required=False)
    sort = forms.IntegerField(label=_("Sort order"), initial=0, required=False)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 5}), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()

    def spec_list(self) -> list[str]:
        raw = self.cleaned_data.get("spec_names") or ""
        return [p.strip() for p in raw.replace("，", ",").split(",") if p.strip()]


class SkuRowForm(forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    code = forms.CharField(label=_("SKU code"), max_length=64, required=False)
    specs = forms.CharField(
        label=_("Spec values"),
        required=False,
        help_text=_("In spec order, separated by /"),
        widget=forms.TextInput(attrs={"size": 14}),
    )
    price = YuanField(label=_("Price (yuan)"), required=False)
    list_price = YuanField(label=_("List price (yuan)"), required=False)
    cost = YuanField(label=_("Cost (yuan)"), required=False)
    weight_g = forms.IntegerField(
        label=_("Weight (g)"),
        min_value=0,
        required=False,
        widget=forms.NumberInput(attrs={"style": "width:6em"}),
    )
    fulfilment = forms.ChoiceField(
        label=_("Fulfilment"),
        choices=Fulfilment.choices,
        initial=Fulfilment.STOCKED,
        required=False,
    )
    supplier = forms.ModelChoiceField(
        label=_("Supplier"), queryset=Supplier.objects.filter(is_active=True), required=False
    )
    is_active = forms.BooleanField(label=_("On sale"), required=False, initial=True)

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not data.get("id") and not data.get("code") and data.get("price") is None


SkuFormSet = forms.formset_factory(SkuRowForm, extra=2, max_num=60)


class ImageForm(forms.Form):
    image = forms.FileField(label=_("Image"))
    alt = forms.CharField(label=_("Description"), max_length=120, required=False)


class AdjustmentForm(forms.Form):
    sku = forms.IntegerField(widget=forms.HiddenInput)
    location = forms.ModelChoiceField(
        label=_("Location"), queryset=Location.objects.filter(is_active=True)
    )
    delta = forms.IntegerField(label=_("Change (+/−)"))
    note = forms.CharField(label=_("Reason"), max_length=255)


class MovementFilterForm(forms.Form):
    sku = forms.CharField(label=_("SKU code"), required=False)
    location = forms.ModelChoiceField(
        label=_("Location"), queryset=Location.objects.all(), required=False
    )
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", _("All reasons")), *StockReason.choices], required=False
    )


class CategoryForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=50)
    parent = forms.TypedChoiceField(
        label=_("Parent category"), coerce=int, required=False, empty_value=None
    )
    sort = forms.IntegerField(label=_("Sort order"), initial=0, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = category_choices(blank=str(_("(top level)")))


class BrandForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    story = forms.CharField(
        label=_("Brand story"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    sort = forms.IntegerField(label=_("Sort order"), initial=0, required=False)


class SupplierForm(forms.ModelForm):
    class Meta:
        model = Supplier
        fields = [
            "code",
            "name",
            "contact_name",
            "contact_phone",
            "email",
            "address",
            "notes",
            "is_active",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}


class LocationForm(forms.ModelForm):
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.filter(is_active=True), required=False
    )

    class Meta:
        model = Location
        fields = [
            "code",
            "name",
            "kind",
            "store",
            "ships_online",
            "is_pickup",
            "priority",
            "address",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = LocationKind.choices
