from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class AnalyticsConfig(SiyuAppConfig):
    default = True
    name = "siyu.analytics"
    label = "analytics"
    verbose_name = _("Analytics")
    demo_priority = 90
    nav = (
        NavItem(
            _("Score runs"), "analytics:runs", "analytics.view", section=_("Analytics"), order=600
        ),
    )
    permissions = {
        # scores, score runs and their history; store managers see their store's customers
        "analytics.view": {R.OPERATOR, R.ANALYST, R.STORE_MANAGER},
        # start a scoring run by hand
        "analytics.run": {R.OPERATOR},
        # `siyu export` of item-level data for the brand's warehouse (pseudonymous)
        "analytics.export": {R.OPERATOR, R.ANALYST},
        # the same export with decrypted phone numbers and names (audited)
        "analytics.export_pii": set(),
    }

    def customer_panels(self, actor, customer) -> list[dict]:
        """The customer's latest scores on the console customer page (row scope applied)."""
        if not actor.can("analytics.view"):
            return []
        from .services import score_for_customer

        if not actor.sees_all_stores and customer.store_id != actor.store_id:
            return []
        return [
            {
                "title": _("Scores and lifetime value"),
                "template": "analytics/_customer_panel.html",
                "context": {"score": score_for_customer(actor, customer.pk)},
            }
        ]

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("analytics.view") or not actor.sees_all_stores:
            return []
        from django.urls import reverse

        from siyu.core.money import format_fen

        from .services import latest_run

        run = latest_run()
        if run is None:
            return []
        figures = run.figures or {}
        mean_clv = figures.get("mean_clv_365d_fen")
        return [
            {
                "label": _("Mean 1-year customer value"),
                "value": format_fen(round(mean_clv)) if mean_clv is not None else "—",
                "hint": _("%(n)s customers scored on %(day)s")
                % {"n": run.customers, "day": run.as_of.isoformat()},
                "url": reverse("analytics:run_detail", args=[run.pk]),
            },
            {
                "label": _("Replenishment due"),
                "value": figures.get("replenishment_due", 0),
                "hint": _("customers near their usual repurchase day"),
                "url": reverse("analytics:runs"),
            },
        ]
