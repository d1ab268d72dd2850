"""Marketing's price adjusters: the flash-sale price (runs first) and the coupon (after prices).

Both only honour what the client asked for in `quote.context` ({"coupon_codes": [code]},
{"flash_sale_item": id}) and re-check everything on the server. Their `commit` runs inside the
order's placement transaction: the coupon copy is used up, the flash-sale quota taken; raising
there aborts the order.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.orders import pricing

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


def register() -> None:
    pricing.register(CouponAdjuster())
