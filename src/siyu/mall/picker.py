"""The SKU picker of the product page: which spec values can still be chosen, and which SKU the
shopper's choice resolves to. Presentation only: prices and stock come from the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field

LOW_STOCK = 10


@dataclass(frozen=True)
class StockState:
    """What the shopper is told about one SKU's stock."""

    available: int | None  # None: drop-shipped, the supplier holds the stock

    @property
    def sellable(self) -> bool:
        return self.available is None or self.available > 0

    @property
    def key(self) -> str:
        if self.available is None or self.available > LOW_STOCK:
            return "in_stock"
        return "low" if self.available > 0 else "sold_out"


@dataclass
class SpecOption:
    value: str
    selected: bool = False
    enabled: bool = True


@dataclass
class SpecGroup:
    name: str
    options: list[SpecOption] = field(default_factory=list)


@dataclass
class Picker:
    groups: list[SpecGroup]
    sku: object | None  # the resolved Sku, when every spec is chosen
    stock: StockState | None
    chosen: dict[str, str]
    min_price_fen: int
    max_price_fen: int
    any_sellable: bool

    @property
    def can_buy(self) -> bool:
        return self.sku is not None and self.stock is not None and self.stock.sellable


def _values(sku) -> dict[str, str]:
    return {str(k): str(v) for k, v in (sku.spec_values or {}).items() if v not in (None, "")}


def spec_names(product, skus) -> list[str]:
    names = [str(n) for n in (product.spec_names or [])]
    for sku in skus:
        for name in _values(sku):
            if name not in names:
                names.append(name)
    return names


def build_picker(product, skus: list, available: dict[int, int | None], chosen: dict) -> Picker:
    """`skus`: the product's SKUs on sale; `available`: units per SKU id (None = drop-ship)."""
    names = spec_names(product, skus)
    chosen = {n: str(v) for n, v in chosen.items() if n in names and v}

    def sellable(sku) -> bool:
        return StockState(available.get(sku.pk)).sellable

    def matches(sku, wanted: dict[str, str]) -> bool:
        values = _values(sku)
        return all(values.get(n) == v for n, v in wanted.items())

    # a dimension with a single value, or a product with a single SKU, needs no choice
    for name in names:
        values = {_values(s).get(name) for s in skus} - {None}
        if len(values) == 1 and name not in chosen:
            chosen[name] = values.pop()
    groups = []
    for name in names:
        seen: list[str] = []
        for sku in skus:
            value = _values(sku).get(name)
            if value is not None and value not in seen:
                seen.append(value)
        others = {n: v for n, v in chosen.items() if n != name}
        options = [
            SpecOption(
                value=value,
                selected=chosen.get(name) == value,
                enabled=any(matches(s, {**others, name: value}) and sellable(s) for s in skus),
            )
            for value in seen
        ]
        groups.append(SpecGroup(name=name, options=options))
    resolved = None
    if len(skus) == 1:
        resolved = skus[0]
    elif names and all(n in chosen for n in names):
        resolved = next((s for s in skus if matches(s, chosen)), None)
    prices = [s.price_fen for s in skus] or [0]
    return Picker(
        groups=groups,
        sku=resolved,
        stock=StockState(available.get(resolved.pk)) if resolved is not None else None,
        chosen=chosen,
        min_price_fen=min(prices),
        max_price_fen=max(prices),
        any_sellable=any(sellable(s) for s in skus),
    )
