from django.utils.translation import gettext_lazy as _

from siyu.core.access import Role
from siyu.core.apps import SiyuAppConfig

R = Role


class MarketingConfig(SiyuAppConfig):
    """Promotions: coupons (优惠券) and flash sales / daily specials (秒杀, 每日爆款)."""

    default = True
    name = "siyu.marketing"
    label = "marketing"
    verbose_name = _("Marketing")
    demo_priority = 70
    permissions = {
        "marketing.view": {R.OPERATOR, R.ANALYST, R.STORE_MANAGER},
        # define coupons and sales, start and stop them
        "marketing.manage": {R.OPERATOR},
        # give coupons to customers (lists, segments)
        "marketing.issue": {R.OPERATOR},
    }
