"""Pure commission arithmetic (no database): what a line earns per level, and what is left of a
commission after part of the line is refunded. All amounts are integer fen, rounded down, so the
merchant never pays a fen more than the rate says."""

from __future__ import annotations

from dataclasses import dataclass

BP = 10_000  # basis points in 100%


@dataclass(frozen=True)
class Rate:
    source: str  # "level" or "product"
    mode: str  # "percent" (value in basis points) or "fixed" (value in fen per item)
    value: int


def line_commission(base_fen: int, quantity: int, rate: Rate) -> int:
    """Commission on a line the shopper paid `base_fen` for (after every discount)."""
    if base_fen <= 0 or rate.value <= 0:
        return 0
    if rate.mode == "percent":
        return base_fen * min(rate.value, BP) // BP
    if rate.mode == "fixed":
        return min(rate.value * max(quantity, 0), base_fen)
    raise ValueError(f"unknown rate mode {rate.mode!r}")


def level_amounts(base_fen: int, quantity: int, rates: list[Rate]) -> list[int]:
    """Commission per level, in level order, never adding up to more than the line's payment:
    a later level gets only what the earlier ones left."""
    amounts = []
    left = max(base_fen, 0)
    for rate in rates:
        amount = min(line_commission(base_fen, quantity, rate), left)
        amounts.append(amount)
        left -= amount
    return amounts


def kept_after_refund(amount_fen: int, base_fen: int, refunded_base_fen: int) -> int:
    """How much of a commission survives once `refunded_base_fen` of its line is refunded:
    proportional to what the shopper kept, rounded down; nothing once all is refunded."""
    if base_fen <= 0:
        return 0
    kept_base = max(base_fen - min(refunded_base_fen, base_fen), 0)
    return amount_fen * kept_base // base_fen
