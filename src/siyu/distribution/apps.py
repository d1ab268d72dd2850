from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class DistributionConfig(SiyuAppConfig):
    """Distribution (分销): free to join, at most two levels, commission only on paid sales."""

    default = True
    name = "siyu.distribution"
    label = "distribution"
    verbose_name = _("Distribution")
    demo_priority = 60
    nav = (
        NavItem(
            _("Distributors"),
            "distribution:distributors",
            "distribution.view",
            section=_("Distribution"),
            order=50,
        ),
        NavItem(
            _("Applications"),
            "distribution:applications",
            "distribution.view",
            section=_("Distribution"),
            order=51,
        ),
        NavItem(
            _("Commissions"),
            "distribution:commissions",
            "distribution.view",
            section=_("Distribution"),
            order=52,
        ),
        NavItem(
            _("Levels and rates"),
            "distribution:levels",
            "distribution.view",
            section=_("Distribution"),
            order=53,
        ),
        NavItem(
            _("Programme settings"),
            "distribution:settings",
            "distribution.view",
            section=_("Distribution"),
            order=54,
        ),
    )
    permissions = {
        "distribution.view": {R.OPERATOR, R.ANALYST},
        # settings, levels, rates, suspending distributors
        "distribution.manage": {R.OPERATOR},
        # applications and invitations
        "distribution.review": {R.OPERATOR},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("distribution.view"):
            return []
        from django.urls import reverse

        from .models import ApplicationStatus, Distributor, DistributorApplication

        return [
            {
                "label": _("Distributors"),
                "value": Distributor.objects.filter(status="active").count(),
                "hint": _("%(n)s applications waiting")
                % {
                    "n": DistributorApplication.objects.filter(
                        status=ApplicationStatus.PENDING
                    ).count()
                },
                "url": reverse("distribution:distributors"),
            }
        ]

    def member_panels(self, actor) -> list[dict]:
        """The distributor centre's entry on the shopper's member page."""
        if actor.kind != "customer":
            return []
        from . import queries, services

        distributor = services.distributor_for_customer(actor.customer_id)
        if distributor is None and services.program().join_mode == "invitation":
            return []
        from django.urls import reverse

        return [
            {
                "title": _("Distributor centre") if distributor else _("Become a distributor"),
                "template": "distribution/h5/_member_panel.html",
                "context": {
                    "distributor": distributor,
                    "earnings": queries.earnings(distributor) if distributor else None,
                },
                "order": 40,
                "url": reverse(
                    "distribution_h5:centre" if distributor else "distribution_h5:apply"
                ),
            }
        ]
