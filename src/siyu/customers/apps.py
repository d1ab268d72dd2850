from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class CustomersConfig(SiyuAppConfig):
    default = True
    name = "siyu.customers"
    label = "customers"
    verbose_name = _("Customers")
    demo_priority = 20
    nav = (
        NavItem(
            _("Customers"), "customers:list", "customers.view", section=_("Customers"), order=10
        ),
        NavItem(
            _("Merge suggestions"),
            "customers:suggestions",
            "customers.merge",
            section=_("Customers"),
            order=11,
        ),
        NavItem(
            _("Tags"), "customers:tags", "customers.manage_tags", section=_("Customers"), order=12
        ),
        NavItem(
            _("Hand over"),
            "customers:handover",
            "customers.reassign",
            section=_("Customers"),
            order=13,
        ),
    )
    permissions = {
        "customers.view": {R.OPERATOR, R.STORE_MANAGER, R.CLERK, R.ANALYST},
        # full phone numbers and addresses; everyone else sees them masked
        "customers.view_pii": {R.OPERATOR, R.STORE_MANAGER, R.CLERK},
        "customers.edit": {R.OPERATOR, R.STORE_MANAGER, R.CLERK},
        "customers.tag": {R.OPERATOR, R.STORE_MANAGER, R.CLERK},
        "customers.manage_tags": {R.OPERATOR},
        "customers.reassign": {R.OPERATOR, R.STORE_MANAGER},
        "customers.merge": {R.OPERATOR},
        # personal-data export (a data subject request, or a list with phones)
        "customers.export": {R.OPERATOR},
        # irreversible anonymisation (PIPL): the owner's decision alone
        "customers.erase": set(),
    }

    def home_cards(self, actor) -> list[dict]:
        """Pool size, this week's newcomers and the biggest sources, for the actor's own scope.
        Cached for a minute: at a million customers the GROUP BY is not free."""
        from django.core.cache import cache
        from django.urls import reverse
        from django.utils.http import urlencode

        from .models import Source
        from .services import pool_figures

        if not actor.can("customers.view"):
            return []
        key = f"customers:home:{actor.role}:{actor.store_id}:{actor.user_id}"
        figures = cache.get(key)
        if figures is None:
            figures = pool_figures(actor)
            cache.set(key, figures, 60)
        url = reverse("customers:list")
        labels = dict(Source.choices)
        cards = [
            {
                "label": _("Customers"),
                "value": f"{figures['total']:,}",
                "hint": _("in your pool"),
                "url": url,
            },
            {
                "label": _("New this week"),
                "value": f"{figures['new_this_week']:,}",
                "hint": _("first seen since Monday"),
                "url": url,
            },
        ]
        total = figures["total"] or 1
        for row in figures["by_source"]:
            cards.append(
                {
                    "label": _("From %(source)s") % {"source": labels.get(row["source"], "")},
                    "value": f"{row['n']:,}",
                    "hint": f"{row['n'] * 100 / total:.0f}%",
                    "url": f"{url}?{urlencode({'source': row['source']})}",
                }
            )
        return cards
