"""Other apps' parts of a personal-data export (PIPL access request).

An app that keeps personal data about customers (addresses, chat history, points) registers a
section in its `handlers.py`; `services.export_personal_data` adds every section to the export:

    from siyu.customers.personal_data import export_section

    @export_section("addresses")
    def addresses(customer_ids: list[int]) -> list[dict]:
        return [...]  # JSON-ready, decrypted

`customer_ids` holds the customer and every record merged into it. Erasure is the other half:
subscribe to `customers.events.CustomerErased` (in_transaction=True) and blank what you keep.
"""

from __future__ import annotations

from collections.abc import Callable

Section = Callable[[list[int]], object]
_sections: dict[str, Section] = {}


def export_section(name: str) -> Callable[[Section], Section]:
    def register(fn: Section) -> Section:
        _sections[name] = fn
        return fn

    return register


def collect(customer_ids: list[int]) -> dict[str, object]:
    return {name: fn(customer_ids) for name, fn in sorted(_sections.items())}
