from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role

from .models import Store


class StaffCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    display_name = forms.CharField(label=_("Display name"), max_length=50, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.CHOICES)
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.filter(is_active=True), required=False
    )
    password = forms.CharField(
        label=_("Initial password"), widget=forms.PasswordInput, min_length=8
    )

    def clean(self):
        data = super().clean()
        if data.get("role") in (Role.STORE_MANAGER, Role.CLERK) and not data.get("store"):
            self.add_error("store", _("Store managers and clerks must belong to a store."))
        return data


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100)
