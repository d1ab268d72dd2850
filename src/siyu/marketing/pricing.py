"""Marketing's price adjusters: the flash-sale price (runs first) and the coupon (after prices).

Both only honour what the client asked for in `quote.context` ({"coupon_codes": [code]},
{"flash_sale_item": id}) and re-check everything on the server. Their `commit` runs inside the
order's placement transaction: the coupon copy is used up, the flash-sale quota taken; raising
there aborts the order.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.core.errors import ValidationFailed
from siyu.orders import pricing
from siyu.orders.models import Channel

from . import services
from .errors import CouponNotUsable
from .models import CouponKind
from .rules import Line, covers


class CouponAdjuster(pricing.PriceAdjuster):
    code = "coupon"
    label = "优惠券"
    order = 50

    def apply(self, quote: pricing.Quote) -> None:
        codes = [c for c in (quote.context or {}).get("coupon_codes") or [] if c]
        if not codes:
            return
        if len(codes) > 1:
            raise CouponNotUsable(
                _("Only one coupon can be used per order."),
                fields={"coupon_codes": _("one coupon per order")},
            )
        held = services.held_by_code(quote.customer_id, str(codes[0]))
        amount, reason = services.evaluate(held, quote)
        if reason:
            raise CouponNotUsable(
                _("Coupon “%(name)s” cannot be used: %(reason)s.")
                % {"name": held.coupon.name, "reason": services.reason_text(reason)},
                fields={"coupon_codes": reason},
            )
        label = _("Coupon: %(name)s") % {"name": held.coupon.name}
        if held.coupon.kind == CouponKind.FREE_SHIPPING:
            if not services.saved_shipping_fen(quote):
                raise CouponNotUsable(
                    _("Coupon “%(name)s” cannot be used: %(reason)s.")
                    % {"name": held.coupon.name, "reason": services.reason_text("no_saving")},
                    fields={"coupon_codes": "no_saving"},
                )
            quote.free_shipping = True
            # an order-level marker, so `commit` runs and the order shows which coupon it used
            quote.applied.append(pricing.Applied(self.code, label, 0, None, held.code))
            return
        terms = services.terms_of(held.coupon)
        lines = [
            ln
            for ln in quote.lines
            if covers(terms, Line(ln.line_no, ln.product_id, ln.category_id, ln.payable_fen))
        ]
        quote.discount(amount, self.code, label, lines=lines, ref=held.code)

    def commit(self, quote: pricing.Quote, order_id: int) -> None:
        mine = [a for a in quote.applied if a.code == self.code]
        if not mine:
            return
        held = services.held_by_code(quote.customer_id, mine[0].ref)
        amount = sum(a.amount_fen for a in mine)
        if held.coupon.kind == CouponKind.FREE_SHIPPING:
            amount = services.saved_shipping_fen(quote)
        services.use(held.pk, order_id=order_id, customer_id=quote.customer_id, discount_fen=amount)


class FlashSalePrice(pricing.PriceAdjuster):
    """The activity price of a flash-sale item (`context["flash_sale"] = {"item": id}`)."""

    code = "flash_sale"
    label = "秒杀价"
    order = 5

    def apply(self, quote: pricing.Quote) -> None:
        wanted = (quote.context or {}).get("flash_sale")
        if not wanted:
            return
        from . import flash

        item = flash.item_for_sale(int(wanted.get("item") or 0))
        sale = item.sale
        if not sale.is_live():
            raise flash._not_live(sale)
        lines = [ln for ln in quote.lines if ln.sku_id == item.sku_id]
        if len(quote.lines) != 1 or not lines:
            raise ValidationFailed(
                _("A flash-sale order holds only the flash-sale item."),
                fields={"items": _("only the flash-sale item")},
            )
        line = lines[0]
        if line.quantity > sale.per_customer_limit:
            raise flash.over_limit(sale.per_customer_limit)
        # cheap early answers; the conditional updates in `commit` are what guarantee them
        if item.sold + line.quantity > item.quota:
            raise flash.sold_out()
        if flash.bought_in(sale.pk, quote.customer_id) + line.quantity > sale.per_customer_limit:
            raise flash.over_limit(sale.per_customer_limit)
        label = _("Flash sale: %(title)s") % {"title": sale.title}
        quote.set_unit_price(line, item.price_fen, self.code, label, ref=str(item.pk))
        quote.channel = Channel.FLASH_SALE

    def commit(self, quote: pricing.Quote, order_id: int) -> None:
        from . import flash

        wanted = quote.context["flash_sale"]
        item = flash.item_for_sale(int(wanted["item"]))
        line = next(ln for ln in quote.lines if ln.sku_id == item.sku_id)
        flash.take(
            item,
            customer_id=quote.customer_id,
            order_id=order_id,
            quantity=line.quantity,
            token=wanted.get("token", ""),
        )


def register() -> None:
    pricing.register(FlashSalePrice())
    pricing.register(CouponAdjuster())
