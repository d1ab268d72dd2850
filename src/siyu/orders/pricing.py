"""Server-side pricing: a quote of lines at catalogue prices, then registered price adjusters
(coupons, member price, flash-sale price...), then shipping.

No price ever comes from the client. Other apps contribute discounts by registering a
`PriceAdjuster`; it changes the quote only through `Quote.set_unit_price` (a per-unit price for
some lines) and `Quote.discount` (an amount spread over lines in proportion to what they cost,
exactly, with `siyu.core.money.split_proportionally`), so every fen of discount is carried by a
line and refunds, commissions and margins per line stay exact.

    class MemberPrice(PriceAdjuster):
        code, label, order = "member_price", "会员价", 10
        def apply(self, quote):
            for line in quote.lines:
                if (price := member_price(quote.customer_id, line.sku_id)) is not None:
                    quote.set_unit_price(line, price, self.code, self.label)

    pricing.register(MemberPrice())

An adjuster whose discount consumes something (a coupon that can be used once) also implements
`commit(quote, order_id)`: it runs inside the placement transaction, after the order row exists,
and raising a DomainError there aborts the placement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from siyu.core.money import split_proportionally


@dataclass
class Applied:
    """One adjustment as applied to one line (line_no) or to the order's shipping (line_no None)."""

    code: str
    label: str
    amount_fen: int
    line_no: int | None = None
    ref: str = ""


@dataclass
class QuoteLine:
    line_no: int
    sku_id: int
    sku_code: str
    product_id: int
    category_id: int
    brand_id: int | None
    title: str
    spec_text: str
    quantity: int
    unit_price_fen: int
    list_price_fen: int
    cost_fen: int
    weight_g: int
    fulfilment: str
    supplier_id: int | None
    per_customer_limit: int | None = None
    image: str = ""
    discount_fen: int = 0
    applied: list[Applied] = field(default_factory=list)

    @property
    def amount_fen(self) -> int:
        return self.unit_price_fen * self.quantity

    @property
    def payable_fen(self) -> int:
        return self.amount_fen - self.discount_fen

    @property
    def cost_total_fen(self) -> int:
        return self.cost_fen * self.quantity


@dataclass
class Quote:
    customer_id: int
    channel: str
    delivery_method: str
    store_id: int | None
    lines: list[QuoteLine]
    # What the client asked for that adjusters may honour: {"coupon_codes": [...], ...}
    context: dict = field(default_factory=dict)
    shipping_fen: int = 0
    free_shipping: bool = False
    applied: list[Applied] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def goods_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def discount_fen(self) -> int:
        return sum(line.discount_fen for line in self.lines)

    @property
    def payable_fen(self) -> int:
        return self.goods_fen - self.discount_fen + self.shipping_fen

    @property
    def cost_fen(self) -> int:
        return sum(line.cost_total_fen for line in self.lines)

    def set_unit_price(
        self, line: QuoteLine, unit_price_fen: int, code: str, label: str, ref: str = ""
    ) -> int:
        """Sell `line` at a lower per-unit price (member or flash-sale price). The difference is
        recorded as a discount on that line; a price above what the line still costs is ignored.
        Returns the discount added."""
        current_unit = line.payable_fen // line.quantity
        if unit_price_fen >= current_unit or unit_price_fen < 0:
            return 0
        amount = (current_unit - unit_price_fen) * line.quantity
        self._add(line, Applied(code, label, amount, line.line_no, ref))
        return amount

    def discount(
        self,
        amount_fen: int,
        code: str,
        label: str,
        *,
        lines: list[QuoteLine] | None = None,
        ref: str = "",
    ) -> int:
        """Take `amount_fen` off the order, spread over `lines` (default: all) in proportion to
        what each still costs. Never more than those lines cost. Returns what was applied."""
        targets = [line for line in (lines or self.lines) if line.payable_fen > 0]
        ceiling = sum(line.payable_fen for line in targets)
        amount = max(0, min(int(amount_fen), ceiling))
        if amount == 0:
            return 0
        shares = split_proportionally(amount, [line.payable_fen for line in targets])
        for line, share in zip(targets, shares, strict=True):
            if share:
                self._add(line, Applied(code, label, share, line.line_no, ref))
        return amount

    def _add(self, line: QuoteLine, applied: Applied) -> None:
        line.discount_fen += applied.amount_fen
        line.applied.append(applied)
        self.applied.append(applied)

    def summary(self) -> list[dict]:
        """Adjustments grouped by code, for display: [{"code", "label", "amount_fen"}]."""
        grouped: dict[tuple[str, str], int] = {}
        for a in self.applied:
            grouped[(a.code, a.label)] = grouped.get((a.code, a.label), 0) + a.amount_fen
        return [{"code": c, "label": lbl, "amount_fen": amt} for (c, lbl), amt in grouped.items()]


class PriceAdjuster:
    """Base class for a pricing step. Lower `order` runs first (prices before coupons)."""

    code: str = ""
    label: str = ""
    order: int = 100

    def apply(self, quote: Quote) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def commit(self, quote: Quote, order_id: int) -> None:
        """Called inside the placement transaction; raise a DomainError to refuse the order."""


_adjusters: dict[str, PriceAdjuster] = {}


def register(adjuster: PriceAdjuster) -> PriceAdjuster:
    """Add (or replace, by code) a price adjuster. Call from an app's `ready()` or handlers."""
    if not adjuster.code:
        raise ValueError("a price adjuster needs a code")
    _adjusters[adjuster.code] = adjuster
    return adjuster


def unregister(code: str) -> None:
    _adjusters.pop(code, None)


def get(code: str) -> PriceAdjuster | None:
    return _adjusters.get(code)


def adjusters() -> list[PriceAdjuster]:
    return sorted(_adjusters.values(), key=lambda a: (a.order, a.code))


def shipping_fee(quote: Quote) -> int:
    """Flat-rate delivery, free from a threshold (on what the goods cost after discounts);
    store pickup is free."""
    if quote.delivery_method == "pickup" or quote.free_shipping or not quote.lines:
        return 0
    goods = quote.goods_fen - quote.discount_fen
    if goods >= settings.SIYU_FREE_SHIPPING_FROM_FEN:
        return 0
    return settings.SIYU_SHIPPING_FEE_FEN


def price(quote: Quote) -> Quote:
    """Run every registered adjuster, then shipping. Mutates and returns the quote."""
    for adjuster in adjusters():
        adjuster.apply(quote)
    quote.shipping_fen = shipping_fee(quote)
    return quote


def commit(quote: Quote, order_id: int) -> None:
    codes = {a.code for a in quote.applied}
    for adjuster in adjusters():
        if adjuster.code in codes:
            adjuster.commit(quote, order_id)
