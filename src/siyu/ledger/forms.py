from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.core.money import BadAmount, yuan_to_fen


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


class RepaymentForm(forms.Form):
    amount = forms.CharField(label=_("Amount repaid (yuan)"), max_length=20)
    reference = forms.CharField(label=_("Payment reference"), max_length=100)

    def clean_amount(self) -> int:
        try:
            return yuan_to_fen(self.cleaned_data["amount"])
        except BadAmount:
            raise forms.ValidationError(_("Enter an amount such as 12.50."))
