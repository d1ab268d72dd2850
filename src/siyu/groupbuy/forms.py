"""Console form for a group-buy activity. Items are typed one per line: `<SKU code> <group price
in yuan>` (the merchant SKU codes staff already know)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Sku
from siyu.core.money import BadAmount, format_fen, yuan_to_fen

from .models import MAX_GROUP_SIZE, MAX_TIME_LIMIT_HOURS, MIN_GROUP_SIZE, Activity
from .services import ActivityInput

LOCAL = "%Y-%m-%dT%H:%M"


class ActivityForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    group_size = forms.IntegerField(
        label=_("Group size"), min_value=MIN_GROUP_SIZE, max_value=MAX_GROUP_SIZE, initial=3
    )
    time_limit_hours = forms.IntegerField(
        label=_("Time limit (hours)"), min_value=1, max_value=MAX_TIME_LIMIT_HOURS, initial=24
    )
    per_customer_limit = forms.IntegerField(
        label=_("Limit per customer"),
        min_value=1,
        required=False,
        help_text=_("Units in total; empty for no limit."),
    )
    starts_at = forms.DateTimeField(
        label=_("Starts at"),
        input_formats=[LOCAL],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL),
    )
    ends_at = forms.DateTimeField(
        label=_("Ends at"),
        input_formats=[LOCAL],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=LOCAL),
    )
    items = forms.CharField(
        label=_("Items"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "SKU-00001 99.00"}),
        help_text=_("One per line: the SKU code and its group price in yuan."),
    )

    @classmethod
    def for_activity(cls, activity: Activity) -> ActivityForm:
        lines = "\n".join(
            f"{item.sku.code} {format_fen(item.group_price_fen, symbol=False)}"
            for item in activity.items.select_related("sku")
        )
        return cls(
            initial={
                "title": activity.title,
                "description": activity.description,
                "group_size": activity.group_size,
                "time_limit_hours": activity.time_limit_hours,
                "per_customer_limit": activity.per_customer_limit,
                "starts_at": activity.starts_at,
                "ends_at": activity.ends_at,
                "items": lines,
            }
        )

    def clean_items(self) -> list[tuple[int, int]]:
        rows = []
        problems = []
        lines = [ln.split() for ln in self.cleaned_data["items"].splitlines() if ln.strip()]
        codes = {parts[0] for parts in lines if parts}
        skus = dict(Sku.objects.filter(code__in=codes).values_list("code", "pk"))
        for n, parts in enumerate(lines, start=1):
            if len(parts) != 2:
                problems.append(_("line %(n)s: write the SKU code and the price") % {"n": n})
                continue
            code, price = parts
            if code not in skus:
                problems.append(_("line %(n)s: no SKU with code %(code)s") % {"n": n, "code": code})
                continue
            try:
                rows.append((skus[code], yuan_to_fen(price)))
            except BadAmount:
                problems.append(
                    _("line %(n)s: %(price)s is not an amount") % {"n": n, "price": price}
                )
        if problems:
            raise forms.ValidationError(problems)
        return rows

    def to_input(self) -> ActivityInput:
        d = self.cleaned_data
        return ActivityInput(
            title=d["title"],
            description=d.get("description", ""),
            group_size=d["group_size"],
            time_limit_hours=d["time_limit_hours"],
            per_customer_limit=d.get("per_customer_limit"),
            starts_at=d["starts_at"],
            ends_at=d["ends_at"],
            items=d["items"],
        )
