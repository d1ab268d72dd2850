"""Pure coupon arithmetic: which lines a coupon covers and how much it takes off. No database."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CouponTerms:
    """What pricing needs to know about a coupon (a snapshot of `Coupon`)."""

    kind: str
    amount_fen: int = 0
    percent_off: int = 0
    max_discount_fen: int | None = None
    min_spend_fen: int = 0
    scope: str = "shop"
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Line:
    line_no: int
    product_id: int
    category_id: int
    payable_fen: int


def covers(terms: CouponTerms, line: Line) -> bool:
    if terms.scope == "products":
        return line.product_id in terms.product_ids
    if terms.scope == "categories":
        return line.category_id in terms.category_ids
    return True


def eligible(terms: CouponTerms, lines: list[Line]) -> list[Line]:
    return [ln for ln in lines if ln.payable_fen > 0 and covers(terms, ln)]


def discount_fen(terms: CouponTerms, lines: list[Line]) -> tuple[int, str]:
    """(amount off the eligible goods, "" or the reason it does not apply).

    A free-shipping coupon takes nothing off the goods (amount 0) but still needs its minimum
    spend. Never more than the eligible lines cost.
    """
    covered = eligible(terms, lines)
    base = sum(ln.payable_fen for ln in covered)
    if not covered or base <= 0:
        return 0, "no_eligible_items"
    threshold = max(terms.min_spend_fen, 0)
    if base < threshold:
        return 0, "below_minimum"
    if terms.kind in ("fixed", "threshold"):
        amount = terms.amount_fen
    elif terms.kind == "percent":
        # round down in the shopper's disfavour by less than a fen, never over the cap
        amount = base * terms.percent_off // 100
        if terms.max_discount_fen is not None:
            amount = min(amount, terms.max_discount_fen)
    elif terms.kind == "free_shipping":
        return 0, ""
    else:
        return 0, "unknown_kind"
    return max(0, min(amount, base)), ""
