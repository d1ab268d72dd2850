from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class GroupBuyConfig(SiyuAppConfig):
    """Group buying (拼团): real members only, success at the N-th payment, automatic refunds."""

    default = True
    name = "siyu.groupbuy"
    label = "groupbuy"
    verbose_name = _("Group buying")
    demo_priority = 70
    nav = (
        NavItem(
            _("Group buys"), "groupbuy:activities", "groupbuy.view", section=_("Commerce"), order=40
        ),
        NavItem(
            _("Live groups"), "groupbuy:groups", "groupbuy.view", section=_("Commerce"), order=41
        ),
    )
    permissions = {
        "groupbuy.view": {R.OPERATOR, R.ANALYST},
        "groupbuy.manage": {R.OPERATOR},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("groupbuy.view"):
            return []
        from django.urls import reverse

        from .models import Group, GroupStatus

        return [
            {
                "label": _("Open groups"),
                "value": Group.objects.filter(status=GroupStatus.OPEN).count(),
                "hint": _("%(n)s succeeded today") % {"n": _succeeded_today()},
                "url": reverse("groupbuy:groups"),
            }
        ]

    def member_panels(self, actor) -> list[dict]:
        if actor.kind != "customer":
            return []
        from django.urls import reverse

        from .queries import my_groups

        groups = my_groups(actor.customer_id, limit=3)
        if not groups:
            return []
        return [
            {
                "title": _("My group buys"),
                "template": "groupbuy/h5/_member_panel.html",
                "context": {"groups": groups},
                "order": 30,
                "url": reverse("groupbuy_h5:mine"),
            }
        ]

    def order_panels(self, actor, order) -> list[dict]:
        """On the console order page: the group this order's member belongs to."""
        if order.channel != "group_buy" or not actor.can("groupbuy.view"):
            return []
        from .models import Member

        member = Member.objects.filter(order_id=order.pk).select_related("group").first()
        if member is None:
            return []
        return [
            {
                "title": _("Group buy"),
                "template": "groupbuy/_order_panel.html",
                "context": {"member": member, "group": member.group},
            }
        ]

    def product_panels(self, actor, product) -> list[dict]:
        """ "开团/参团" on the product page while a group buy runs for one of its SKUs."""
        from .queries import offers_for_product

        offers = offers_for_product(product.pk)
        if not offers:
            return []
        return [
            {
                "template": "groupbuy/h5/_product_panel.html",
                "context": {"offers": offers},
                "order": 10,
            }
        ]


def _succeeded_today() -> int:
    from django.utils import timezone

    from .models import Group, GroupStatus

    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return Group.objects.filter(status=GroupStatus.SUCCEEDED, succeeded_at__gte=start).count()
