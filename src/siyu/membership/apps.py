from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class MembershipConfig(SiyuAppConfig):
    """Membership (会员体系): points, tiers, paid member cards and referral rewards."""

    default = True
    name = "siyu.membership"
    label = "membership"
    verbose_name = _("Membership")
    demo_priority = 92  # after the mall: the demo shopper gets points, a card and friends
    nav = (
        NavItem(_("Overview"), "membership:overview", "membership.view", _("Membership"), 60),
        NavItem(_("Tiers"), "membership:tiers", "membership.view", _("Membership"), 61),
        NavItem(_("Member cards"), "membership:cards", "membership.view", _("Membership"), 62),
        NavItem(_("Points"), "membership:points", "membership.view", _("Membership"), 63),
        NavItem(_("Referrals"), "membership:referrals", "membership.view", _("Membership"), 64),
        NavItem(
            _("Programme settings"), "membership:settings", "membership.view", _("Membership"), 65
        ),
    )
    permissions = {
        "membership.view": {R.OPERATOR, R.ANALYST},
        "membership.manage": {R.OPERATOR},
        "membership.adjust_points": {R.OPERATOR},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("membership.view"):
            return []
        from django.urls import reverse

        from .queries import figures

        f = figures()
        return [
            {
                "label": _("Members"),
                "value": f["members"],
                "hint": _("%(n)s valid member cards") % {"n": f["cards_valid"]},
                "url": reverse("membership:overview"),
            }
        ]

    def customer_panels(self, actor, customer) -> list[dict]:
        if not actor.can("membership.view"):
            return []
        from .services import benefits, points

        return [
            {
                "title": _("Membership"),
                "template": "membership/_customer_panel.html",
                "context": {
                    "customer": customer,
                    "balance": points.balance(customer.pk),
                    "benefits": benefits.for_customer(customer.pk),
                    "can_adjust": actor.can("membership.adjust_points"),
                },
            }
        ]

    def member_panels(self, actor) -> list[dict]:
        if actor.kind != "customer":
            return []
        from django.urls import reverse

        from .services import benefits, points

        return [
            {
                "title": _("Member centre"),
                "template": "membership/h5/_member_panel.html",
                "context": {
                    "balance": points.balance(actor.customer_id),
                    "benefits": benefits.for_customer(actor.customer_id),
                },
                "order": 10,
                "url": reverse("membership_h5:centre"),
            }
        ]

    def product_panels(self, actor, product) -> list[dict]:
        """Member prices of the product's SKUs, and for a logged-in member a share link carrying
        their invitation code (分享返现)."""
        from django.urls import reverse

        from .models import MemberPrice
        from .services import benefits, tiers
        from .services.program import program

        prices = list(
            MemberPrice.objects.filter(sku__product=product, sku__is_active=True)
            .select_related("sku")
            .order_by("sku__sort", "sku_id")
        )
        code = None
        if actor.kind == "customer" and program().referral_enabled:
            code = tiers.member_for(actor.customer_id).code
        if not prices and not code:
            return []
        entitled = (
            actor.kind == "customer" and benefits.for_customer(actor.customer_id).member_price
        )
        return [
            {
                "template": "membership/h5/_product_panel.html",
                "context": {
                    "prices": prices,
                    "entitled": entitled,
                    "share_path": f"{reverse('mall:product', args=[product.pk])}?inv={code}"
                    if code
                    else "",
                },
                "order": 40,
            }
        ]
