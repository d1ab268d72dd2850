"""Console forms for the customer pool. They parse input; the services decide."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.access import Actor, Role
from siyu.core.errors import DomainError

from .models import ConsentChannel, IdentityKind, OwnerKind, Source, Tag, TagGroup

GENDERS = [("", "—"), ("f", _("Female")), ("m", _("Male"))]


def clerks_for(actor: Actor, *, active_only: bool = True):
    """The clerks an actor may pick: their store's for a store manager, all for wide roles."""
    from siyu.staff.services import staff_in_scope

    qs = staff_in_scope(actor).filter(role=Role.CLERK)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("store__code", "username")


class ClerkChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        store = obj.store.name if obj.store_id else ""
        return f"{obj.name} ({obj.username}{' · ' + store if store else ''})"


def apply_errors(form: forms.Form, exc: DomainError) -> None:
    """Show a service's ValidationFailed on the form: per field where the field exists."""
    placed = False
    for name, message in exc.fields.items():
        target = name.split(".")[-1] if name.startswith("identities.") else name
        if target in form.fields:
            form.add_error(target, message)
            placed = True
    if not placed or not exc.fields:
        form.add_error(None, exc.message)


class ContactForm(forms.Form):
    """Add a customer (a walk-in, a phone call, a referral)."""

    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    phone = forms.CharField(label=_("Mobile phone"), max_length=20, required=False)
    unionid = forms.CharField(label=_("WeChat unionid"), max_length=64, required=False)
    store_member = forms.CharField(label=_("Store member number"), max_length=64, required=False)
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices, initial=Source.STORE)
    source_detail = forms.CharField(
        label=_("Source detail"),
        max_length=100,
        required=False,
        help_text=_("Which live stream, which referrer, which event…"),
    )
    gender = forms.ChoiceField(label=_("Gender"), choices=GENDERS, required=False)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    province = forms.CharField(label=_("Province"), max_length=30, required=False)
    city = forms.CharField(label=_("City"), max_length=30, required=False)
    consent_sms = forms.BooleanField(label=_("Agrees to marketing SMS"), required=False)
    consent_wecom = forms.BooleanField(label=_("Agrees to WeCom messages"), required=False)
    consent_source = forms.CharField(
        label=_("Where they agreed"),
        max_length=100,
        required=False,
        help_text=_("For example: in-store sign-up sheet, H5 page, phone call."),
    )
    owner = ClerkChoiceField(label=_("Served by"), queryset=None, required=False)

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role == Role.CLERK:
            del self.fields["owner"]  # a clerk serves the customers they add
        else:
            self.fields["owner"].queryset = clerks_for(actor)

    def clean(self):
        data = super().clean()
        if (data.get("consent_sms") or data.get("consent_wecom")) and not data.get(
            "consent_source", ""
        ).strip():
            self.add_error("consent_source", _("Say where the customer agreed."))
        return data

    def contact_input(self):
        from .services import ContactInput

        d = self.cleaned_data
        identities = {
            kind: d[name]
            for name, kind in (
                ("unionid", IdentityKind.UNIONID),
                ("store_member", IdentityKind.STORE_MEMBER),
            )
            if d.get(name)
        }
        consents = {}
        if d.get("consent_sms"):
            consents[ConsentChannel.SMS.value] = True
        if d.get("consent_wecom"):
            consents[ConsentChannel.WECOM.value] = True
        owner = d.get("owner")
        return ContactInput(
            source=d["source"],
            name=d.get("name", ""),
            phone=d.get("phone", ""),
            identities=identities,
            source_detail=d.get("source_detail", ""),
            gender=d.get("gender", ""),
            birthday=d.get("birthday"),
            province=d.get("province", ""),
            city=d.get("city", ""),
            consents=consents,
            consent_source=d.get("consent_source", ""),
            owner_user_id=owner.pk if owner else None,
        )


class ProfileForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    gender = forms.ChoiceField(label=_("Gender"), choices=GENDERS, required=False)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    province = forms.CharField(label=_("Province"), max_length=30, required=False)
    city = forms.CharField(label=_("City"), max_length=30, required=False)


class OwnerForm(forms.Form):
    owner_kind = forms.ChoiceField(
        label=_("Owner kind"), choices=OwnerKind.choices, initial=OwnerKind.CLERK
    )
    clerk = ClerkChoiceField(label=_("Clerk"), queryset=None, required=False)
    owner_id = forms.IntegerField(
        label=_("Leader / distributor number"), required=False, min_value=1
    )
    owner_label = forms.CharField(
        label=_("Leader / distributor name"), max_length=100, required=False
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clerk"].queryset = clerks_for(actor)

    def clean(self):
        data = super().clean()
        if data.get("owner_kind") == OwnerKind.CLERK and not data.get("clerk"):
            self.add_error("clerk", _("Pick a clerk."))
        if data.get("owner_kind") in (OwnerKind.LEADER, OwnerKind.DISTRIBUTOR):
            if not data.get("owner_id"):
                self.add_error("owner_id", _("Required."))
            if not data.get("owner_label"):
                self.add_error("owner_label", _("Required."))
        return data


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ConsentChannel.choices)
    granted = forms.TypedChoiceField(
        label=_("Answer"),
        choices=[("1", _("Agrees")), ("0", _("Declines"))],
        coerce=lambda v: v == "1",
    )
    source = forms.CharField(label=_("Where"), max_length=100)


class OptOutForm(forms.Form):
    action = forms.ChoiceField(choices=[("opt_out", "opt_out"), ("withdraw", "withdraw")])
    source = forms.CharField(label=_("Where the customer asked"), max_length=100)


class HandOverForm(forms.Form):
    from_user = ClerkChoiceField(label=_("Clerk who is leaving"), queryset=None)
    to_user = ClerkChoiceField(label=_("Clerk taking over"), queryset=None)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_user"].queryset = clerks_for(actor, active_only=False)
        self.fields["to_user"].queryset = clerks_for(actor)


class TagGroupForm(forms.Form):
    name = forms.CharField(label=_("Group name"), max_length=50)
    exclusive = forms.BooleanField(
        label=_("One tag per customer"),
        required=False,
        help_text=_("Tags in this group exclude each other (e.g. skin type)."),
    )
    sort = forms.IntegerField(label=_("Order"), required=False, initial=0)


class TagForm(forms.Form):
    group = forms.ModelChoiceField(label=_("Group"), queryset=TagGroup.objects.all())
    name = forms.CharField(label=_("Tag name"), max_length=50)
    color = forms.CharField(
        label=_("Colour"), max_length=7, required=False, widget=forms.TextInput({"type": "color"})
    )
    sort = forms.IntegerField(label=_("Order"), required=False, initial=0)
    rule = forms.CharField(
        label=_("Rule (JSON, optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": '{"field": "paid_orders", ...}'}),
        help_text=_(
            "Leave empty for a manual tag. With a rule, siyu sets the tag itself every night and "
            'after imports, e.g. {"all": [{"field": "paid_orders", "op": "gte", "value": 2}, '
            '{"field": "days_since_last_order", "op": "lte", "value": 90}]}'
        ),
    )

    def clean_rule(self):
        raw = self.cleaned_data.get("rule", "").strip()
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise forms.ValidationError(_("Not valid JSON.")) from None

    def clean_color(self):
        color = self.cleaned_data.get("color", "")
        return "" if color in ("#000000",) else color


class BulkTagForm(forms.Form):
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.filter(rule__isnull=True).select_related("group")
    )
    action = forms.ChoiceField(
        choices=[("add", _("Add to all")), ("remove", _("Remove from all"))],
        initial="add",
        required=False,
    )


class MergeForm(forms.Form):
    """Two records and the one that stays; the other is merged into it."""

    a = forms.IntegerField(widget=forms.HiddenInput)
    b = forms.IntegerField(widget=forms.HiddenInput)
    survivor = forms.IntegerField()
    reason = forms.CharField(label=_("Why these are one person"), max_length=200, required=False)
    suggestion = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def clean(self):
        data = super().clean()
        a, b, survivor = data.get("a"), data.get("b"), data.get("survivor")
        if survivor not in (a, b) or a == b:
            raise forms.ValidationError(_("Pick which record stays."))
        data["merged"] = b if survivor == a else a
        return data


class EraseForm(forms.Form):
    confirm = forms.CharField(label=_("Type the customer number to confirm"), max_length=20)
    reason = forms.CharField(
        label=_("The request this answers"),
        max_length=500,
        help_text=_("Who asked, when and how (ticket number); kept in the audit trail."),
    )

    def __init__(self, *args, customer_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer_id = customer_id

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip().lstrip("#")
        if value != str(self.customer_id):
            raise forms.ValidationError(_("That is not this customer's number."))
        return value
