from django.utils.translation import gettext_lazy as _

from siyu.core.apps import NavItem, SiyuAppConfig


class ImportsConfig(SiyuAppConfig):
    """Platform order imports: Tmall/JD/Douyin/Pinduoduo/Youzan exports into orders and customers.

    Uses the orders app's `orders.import` permission (operators and owners)."""

    default = True
    name = "siyu.imports"
    label = "imports"
    verbose_name = _("Order imports")
    demo_priority = 60
    nav = (
        NavItem(
            _("Order imports"), "imports:list", "orders.import", section=_("Commerce"), order=35
        ),
    )
