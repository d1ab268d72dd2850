"""Distribution's attribution resolver for checkout (`siyu.orders.attribution`).

Checkout passes the share code the shopper arrived with as `hints["share_code"]` (the mall keeps
it in the shopper session from `/m/distribution/s/<code>/` or any `?share_code=` link). The
resolver records that click and binds the customer under the programme's rule, then credits the
distributor the customer is bound to (or themselves, for a self-purchase rebate). With no
distributor to credit it steps aside, and the next resolver or the customer's owner decides.
"""

from __future__ import annotations

from siyu.orders.attribution import Attribution, register
from siyu.orders.models import Channel

from . import services


@register
def distributor_share(customer, channel: str, hints: dict) -> Attribution | None:
    code = hints.get("share_code") or None
    found = services.attribution_for(customer.pk, link_code=code)
    if found is None:
        return None
    return Attribution(
        # a plain mall sale through a distributor is the distributor channel; group buys, flash
        # sales and live sales keep their channel and still credit the distributor
        channel=Channel.DISTRIBUTOR if channel == Channel.MALL else channel,
        credited_kind=found.credited_kind,
        credited_id=found.credited_id,
    )
