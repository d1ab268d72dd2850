"""Membership's steps in checkout pricing (`siyu.orders.pricing`):

* `MemberPricing` (order 10, before coupons): each line at the best of the member price (会员价)
  and the member discount that the customer's tier or valid card brings; free shipping when either
  brings it. Member-card SKUs are never discounted. The applied row's `ref` names the source
  (`tier:{id}` or `card:{id}`), so a card's use is recorded when the order is paid. Lines at a
  flash-sale or group-buy price keep it.
* `PointsRedemption` (order 90, after coupons): when the shopper asks (`use_points` in the
  checkout context), points pay part of the goods, within the programme's cap; the points are
  spent in `commit()`, inside the placement transaction, under the account's row lock, so a
  balance cannot pay for two orders.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from siyu.orders import pricing

from .models import MemberPrice
from .services import benefits
from .services import points as points_service
from .services.program import program

# Activity prices set before member pricing runs, which member discounts never stack on.
FINAL_PRICES = frozenset({"flash_sale", "group_price"})


class MemberPricing(pricing.PriceAdjuster):
    code = "member_price"
    order = 10

    @property
    def label(self) -> str:
        return _("Member price")

    def apply(self, quote: pricing.Quote) -> None:
        found = benefits.for_customer(quote.customer_id)
        if not found.any:
            return
        card_skus = benefits.card_sku_ids()
        lines = [ln for ln in quote.lines if ln.sku_id not in card_skus]
        prices = {}
        if found.member_price:
            prices = dict(
                MemberPrice.objects.filter(sku_id__in=[ln.sku_id for ln in lines]).values_list(
                    "sku_id", "price_fen"
                )
            )
        tier, card = found.tier, found.card
        for line in lines:
            if any(a.code in FINAL_PRICES for a in line.applied):
                continue  # a flash-sale or group price is final: member discounts do not stack
            unit = line.payable_fen // line.quantity
            offers = []  # (price, source), tier first so that a tie does not use the card
            for source, holder in (("tier", tier), ("card", card)):
                terms = holder.plan if source == "card" and holder else holder
                if terms is None:
                    continue
                if terms.member_price and line.sku_id in prices:
                    offers.append((prices[line.sku_id], f"{source}:{holder.pk}"))
                if terms.discount_percent:
                    discounted = (unit * (100 - terms.discount_percent) + 50) // 100
                    offers.append((discounted, f"{source}:{holder.pk}"))
            if not offers:
                continue
            best_price, ref = min(offers, key=lambda o: o[0])
            quote.set_unit_price(line, best_price, self.code, self.label, ref=ref)
        if found.free_shipping and quote.delivery_method != "pickup":
            quote.free_shipping = True
            quote.notices.append(_("Members ship free."))


class PointsRedemption(pricing.PriceAdjuster):
    code = "points"
    order = 90

    @property
    def label(self) -> str:
        return _("Points")

    def apply(self, quote: pricing.Quote) -> None:
        rules_row = program()
        if not rules_row.points_enabled:
            return
        held = points_service.balance(quote.customer_id)
        if held <= 0:
            return
        card_skus = benefits.card_sku_ids()
        lines = [ln for ln in quote.lines if ln.sku_id not in card_skus and ln.payable_fen > 0]
        most = _max_points(held, lines, rules_row)
        quote.context["points_offer"] = {
            "balance": held,
            "max_points": most,
            "max_fen": most * rules_row.redeem_fen_per_point,
        }
        if not most or not quote.context.get("use_points"):
            return
        wanted = quote.context.get("points")
        try:
            wanted = int(wanted) if wanted not in (None, "") else most
        except (TypeError, ValueError):
            wanted = most
        use = max(0, min(wanted, most))
        if use < max(rules_row.redeem_min_points, 1):
            return
        fen = quote.discount(
            use * rules_row.redeem_fen_per_point,
            self.code,
            self.label,
            lines=lines,
            ref=f"{use}",
        )
        quote.context["points_used"] = fen // rules_row.redeem_fen_per_point

    def commit(self, quote: pricing.Quote, order_id: int) -> None:
        from siyu.orders.models import OrderLine

        rules_row = program()
        per_line_fen = {}
        for applied in quote.applied:
            if applied.code == self.code and applied.line_no is not None:
                per_line_fen[applied.line_no] = per_line_fen.get(applied.line_no, 0) + (
                    applied.amount_fen
                )
        total_fen = sum(per_line_fen.values())
        points = total_fen // rules_row.redeem_fen_per_point
        if points <= 0:
            return
        ids = dict(OrderLine.objects.filter(order_id=order_id).values_list("line_no", "pk"))
        # each line's share in points, split exactly like the fen were
        from siyu.core.money import split_proportionally

        nos = sorted(per_line_fen)
        shares = split_proportionally(points, [per_line_fen[n] for n in nos])
        points_service.redeem_for_order(
            quote.customer_id,
            order_id,
            points,
            {ids[n]: s for n, s in zip(nos, shares, strict=True) if s},
        )


def _max_points(held: int, lines, rules_row) -> int:
    from .rules import redeemable_points

    return redeemable_points(
        balance=held,
        eligible_fen=sum(ln.payable_fen for ln in lines),
        fen_per_point=rules_row.redeem_fen_per_point,
        max_percent=rules_row.redeem_max_percent,
        max_points=rules_row.redeem_max_points,
        min_points=rules_row.redeem_min_points,
    )


def register() -> None:
    pricing.register(MemberPricing())
    pricing.register(PointsRedemption())
