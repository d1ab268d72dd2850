from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import NavItem, SiyuAppConfig

R = Role


class MarketingConfig(SiyuAppConfig):
    """Promotions: coupons (优惠券) and flash sales / daily specials (秒杀, 每日爆款)."""

    default = True
    name = "siyu.marketing"
    label = "marketing"
    verbose_name = _("Marketing")
    demo_priority = 92  # after the mall: the demo shopper gets coupons
    nav = (
        NavItem(
            _("Coupons"), "marketing:coupons", "marketing.view", section=_("Marketing"), order=60
        ),
        NavItem(
            _("Flash sales"), "marketing:sales", "marketing.view", section=_("Marketing"), order=61
        ),
    )
    permissions = {
        "marketing.view": {R.OPERATOR, R.ANALYST, R.STORE_MANAGER},
        # define coupons and sales, start and stop them
        "marketing.manage": {R.OPERATOR},
        # give coupons to customers (lists, segments)
        "marketing.issue": {R.OPERATOR},
    }

    def home_cards(self, actor) -> list[dict]:
        if not actor.can("marketing.view"):
            return []
        from django.urls import reverse
        from django.utils import timezone

        from .models import Coupon, CouponStatus, FlashSale, SaleStatus

        now = timezone.now()
        return [
            {
                "label": _("Active coupons"),
                "value": Coupon.objects.filter(status=CouponStatus.ACTIVE).count(),
                "hint": _("%(n)s flash sales live")
                % {
                    "n": FlashSale.objects.filter(
                        status=SaleStatus.PUBLISHED, starts_at__lte=now, ends_at__gt=now
                    ).count()
                },
                "url": reverse("marketing:coupons"),
            }
        ]

    def member_panels(self, actor) -> list[dict]:
        """ "My coupons" on the shopper's member page."""
        if actor.kind != "customer":
            return []
        from django.urls import reverse

        from . import services

        return [
            {
                "title": _("My coupons"),
                "template": "marketing/h5/_member_panel.html",
                "context": {"available": services.my_coupons(actor).count()},
                "order": 20,
                "url": reverse("marketing_h5:mine"),
            }
        ]
