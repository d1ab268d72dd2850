from django import forms
from django.utils.translation import gettext_lazy as _

from .presets import PRESETS


class ImportForm(forms.Form):
    preset = forms.ChoiceField(
        label=_("Platform"),
        choices=[(key, preset.label) for key, preset in PRESETS.items()],
        help_text=_("Which platform the export comes from; Generic needs a mapping."),
    )
    file = forms.FileField(
        label=_("Export file"),
        help_text=_("CSV or XLSX exactly as the platform gave it (UTF-8 or GBK)."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,.txt,.tsv"}),
    )
    mapping = forms.CharField(
        label=_("Column mapping (TOML)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text=_("Only for Generic, or to add a renamed column or status word to a preset."),
    )
    dry_run = forms.BooleanField(
        label=_("Check only (dry run): report what would happen, save nothing"), required=False
    )
