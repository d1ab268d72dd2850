"""What the customer pool does when other apps report something."""

from __future__ import annotations

import logging

from siyu.core.events import subscribe
from siyu.core.rotation import DataKeyRotated
from siyu.orders.events import OrdersImported

log = logging.getLogger(__name__)


@subscribe(OrdersImported)
def refresh_rule_tags_after_import(event: OrdersImported) -> None:
    """Purchase-based tags (lifecycle, value) should reflect a fresh import without waiting for the
    night; the evaluation is a background task, enqueued once the import has committed."""
    from .tasks import refresh_rule_tags

    refresh_rule_tags.enqueue()


@subscribe(DataKeyRotated, in_transaction=True)
def rehash_identities_after_key_rotation(event: DataKeyRotated) -> None:
    """Phones and platform ids are found by a hash keyed with the data key: re-key them with it."""
    from .identity import rehash_all

    customers, identities = rehash_all()
    log.info("re-keyed lookup hashes: %s customer phones, %s identities", customers, identities)
