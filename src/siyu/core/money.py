"""Money is integer fen (分), as WeChat Pay counts it. These helpers only parse and format."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


class BadAmount(ValueError):
    pass


def yuan_to_fen(value: str | int | float | Decimal | None) -> int:
    """Parse '12.34', '¥1,234.5', '12' into fen; reject what is not money (no silent rounding of
    more than two decimals beyond half-up on the third)."""
    if value is None:
        raise BadAmount("empty amount")
    if isinstance(value, int):
        return value * 100
    text = str(value).strip().replace(",", "").replace("¥", "").replace("￥", "").replace("元", "")
    if text == "":
        raise BadAmount("empty amount")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadAmount(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise BadAmount(f"not an amount: {value!r}")
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def format_fen(fen: int | None, *, symbol: bool = True) -> str:
    """12345 -> '¥123.45' (Chinese convention: ¥ prefix, thousands separators)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    text = f"{fen // 100:,}.{fen % 100:02d}"
    return f"{sign}{'¥' if symbol else ''}{text}"


def split_proportionally(total: int, weights: list[int]) -> list[int]:
    """Split `total` fen across lines in proportion to `weights`, exactly (largest remainder).

    Used to spread an order-level discount over its lines so refunds and commissions see what
    each line really cost the shopper.
    """
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        shares = [0] * len(weights)
        shares[0] = total
        return shares
    raw = [total * w for w in weights]
    shares = [r // weight_sum for r in raw]
    remainder = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] % weight_sum), i))
    for i in order[:remainder]:
        shares[i] += 1
    return shares
