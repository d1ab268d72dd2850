from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class OrdersConfig(SiyuAppConfig):
    default = True
    name = "siyu.orders"
    label = "orders"
    verbose_name = _("Orders")
    demo_priority = 40
    nav = (
        NavItem(_("Orders"), "orders:list", "orders.view", section=_("Commerce"), order=30),
        NavItem(
            _("After-sales"), "orders:after_sales", "orders.refund", section=_("Commerce"), order=32
        ),
        NavItem(
            _("Purchase orders"),
            "orders:purchase_orders",
            "orders.purchase_orders",
            section=_("Commerce"),
            order=34,
        ),
    )
    permissions = {
        "orders.view": {R.OPERATOR, R.STORE_MANAGER, R.CLERK, R.ANALYST},
        "orders.import": {R.OPERATOR},
        # ship, hand over pickup orders, mark delivered
        "orders.ship": {R.OPERATOR, R.STORE_MANAGER},
        # cancel unpaid orders
        "orders.cancel": {R.OPERATOR, R.STORE_MANAGER},
        # open, approve and reject after-sales cases; refund
        "orders.refund": {R.OPERATOR},
        # supplier purchase orders for drop-shipped lines: export with addresses, import tracking
        "orders.purchase_orders": {R.OPERATOR},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("orders.view"):
            return []
        from django.urls import reverse
        from django.utils import timezone

        from siyu.core.money import format_fen

        from .models import OrderStatus
        from .services import orders_visible_to

        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        qs = orders_visible_to(actor)
        paid_today = qs.filter(paid_at__gte=today)
        from django.db.models import Count, Sum

        totals = paid_today.aggregate(n=Count("id"), gmv=Sum("paid_fen"))
        to_ship = qs.filter(status__in=(OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED)).count()
        return [
            {
                "label": _("Paid today"),
                "value": format_fen(totals["gmv"] or 0),
                "hint": _("%(n)s orders") % {"n": totals["n"] or 0},
                "url": _url(reverse, "orders:list", "?status=paid"),
            },
            {
                "label": _("To ship"),
                "value": to_ship,
                "hint": _("paid, not yet shipped"),
                "url": _url(reverse, "orders:list", "?status=paid"),
            },
        ]


def _url(reverse, name: str, query: str = "") -> str:
    from django.urls import NoReverseMatch

    try:
        return reverse(name) + query
    except NoReverseMatch:
        return ""
