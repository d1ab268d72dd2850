"""The group price as a step of the orders pricing pipeline.

It applies only to orders group buying places itself (channel `group_buy`, as the system on the
member's behalf, with the activity in the checkout context): a shopper's own checkout can set
neither, so nobody gets the group price without a seat in a group.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from siyu.orders import pricing
from siyu.orders.models import Channel


class GroupPrice(pricing.PriceAdjuster):
    code = "group_price"
    label = _("Group price")
    order = 5  # a unit price: before coupons

    def apply(self, quote: pricing.Quote) -> None:
        if quote.channel != Channel.GROUP_BUY:
            return
        activity_id = (quote.context or {}).get("group_buy_activity")
        if not activity_id:
            return
        from .models import ActivityItem

        prices = dict(
            ActivityItem.objects.filter(
                activity_id=activity_id, sku_id__in=[ln.sku_id for ln in quote.lines]
            ).values_list("sku_id", "group_price_fen")
        )
        for line in quote.lines:
            if line.sku_id in prices:
                quote.set_unit_price(
                    line,
                    prices[line.sku_id],
                    self.code,
                    str(self.label),
                    ref=f"activity:{activity_id}",
                )


pricing.register(GroupPrice())
