"""Coupons: operators define them, customers claim them (coupon centre, share link), operators
issue them in bulk (a customer list or a segment), other apps grant them as rewards
(`grant_coupon`), and checkout uses them through the `coupon` price adjuster (pricing.py).

Every copy a customer gets is a `CustomerCoupon` with a unique `grant_key`, so each way of giving
one out is idempotent. Giving out locks the coupon row (totals and per-customer limits are
checked under that lock and backed by a CHECK constraint); using one locks the customer's copy
and moves it available → used inside the order's placement transaction, so two orders racing for
the same copy cannot both succeed.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.core import audit
from siyu.core.access import Actor, authorize
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.customers.models import Customer

from . import rules
from .errors import (
    CouponGrantKeyReused,
    CouponLimitReached,
    CouponNotUsable,
    CouponSoldOut,
    CouponUnavailable,
)
from .models import (
    Coupon,
    CouponIssue,
    CouponKind,
    CouponNotice,
    CouponScope,
    CouponSource,
    CouponStatus,
    CustomerCoupon,
    CustomerCouponChange,
    RefundPolicy,
)
from .models import CustomerCouponStatus as S
from .states import transition_coupon

log = logging.getLogger(__name__)

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def _code(n: int = 10) -> str:
    return "".join(secrets.choice(_ALPHABET) for _i in range(n))


# --- defining coupons (operators) -------------------------------------------------------------------


@dataclass
class CouponInput:
    name: str
    kind: str
    amount_fen: int = 0
    percent_off: int = 0
    max_discount_fen: int | None = None
    min_spend_fen: int = 0
    scope: str = CouponScope.SHOP
    product_ids: list[int] | None = None
    category_ids: list[int] | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    total_quantity: int | None = None
    per_customer_limit: int = 1
    claimable: bool = True
    refund_policy: str = RefundPolicy.RETURN_ON_FULL_REFUND
    description: str = ""


def _validate(data: CouponInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not (data.name or "").strip():
        errors["name"] = _("This field is required.")
    if data.kind not in CouponKind.values:
        errors["kind"] = _("Choose a coupon kind.")
    if data.kind in (CouponKind.FIXED, CouponKind.THRESHOLD) and (data.amount_fen or 0) <= 0:
        errors["amount_fen"] = _("Enter an amount above zero.")
    if data.kind == CouponKind.THRESHOLD and (data.min_spend_fen or 0) <= data.amount_fen:
        errors["min_spend_fen"] = _("The threshold must be above the amount off.")
    if data.kind == CouponKind.PERCENT and not 1 <= (data.percent_off or 0) <= 99:
        errors["percent_off"] = _("Enter a percentage between 1 and 99.")
    if data.max_discount_fen is not None and data.max_discount_fen <= 0:
        errors["max_discount_fen"] = _("Leave empty for no cap, or enter an amount above zero.")
    if (data.min_spend_fen or 0) < 0:
        errors["min_spend_fen"] = _("Cannot be negative.")
    if data.scope not in CouponScope.values:
        errors["scope"] = _("Choose what the coupon applies to.")
    if data.scope == CouponScope.PRODUCTS and not data.product_ids:
        errors["product_ids"] = _("Choose at least one product.")
    if data.scope == CouponScope.CATEGORIES and not data.category_ids:
        errors["category_ids"] = _("Choose at least one category.")
    if data.valid_days is None and data.valid_until is None:
        errors["valid_until"] = _("Give an end date or a number of days after claiming.")
    if data.valid_days is not None and not 1 <= data.valid_days <= 3650:
        errors["valid_days"] = _("Enter between 1 and 3650 days.")
    if data.valid_from and data.valid_until and data.valid_until <= data.valid_from:
        errors["valid_until"] = _("The end must be after the start.")
    if data.total_quantity is not None and data.total_quantity < 1:
        errors["total_quantity"] = _("Leave empty for unlimited, or enter at least 1.")
    if not 1 <= (data.per_customer_limit or 0) <= 100:
        errors["per_customer_limit"] = _("Enter between 1 and 100.")
    if data.refund_policy not in RefundPolicy.values:
        errors["refund_policy"] = _("Choose what happens on a refund.")
    return errors


def create_coupon(actor: Actor, data: CouponInput, *, activate: bool = False) -> Coupon:
    """Define a coupon (a draft unless `activate`)."""
    authorize(actor, "marketing.manage")
    errors = _validate(data)
    if errors:
        raise ValidationFailed(_("Some fields of the coupon are invalid."), fields=errors)
    with transaction.atomic():
        coupon = Coupon.objects.create(
            name=data.name.strip()[:60],
            description=(data.description or "").strip()[:200],
            kind=data.kind,
            amount_fen=data.amount_fen if data.kind != CouponKind.PERCENT else 0,
            percent_off=data.percent_off if data.kind == CouponKind.PERCENT else 0,
            max_discount_fen=data.max_discount_fen if data.kind == CouponKind.PERCENT else None,
            min_spend_fen=data.min_spend_fen or 0,
            scope=data.scope,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            valid_days=data.valid_days,
            total_quantity=data.total_quantity,
            per_customer_limit=data.per_customer_limit,
            claimable=data.claimable,
            refund_policy=data.refund_policy,
            share_code=_code(12),
            status=CouponStatus.ACTIVE if activate else CouponStatus.DRAFT,
            created_by_id=actor.user_id if actor.is_staff else None,
        )
        if data.scope == CouponScope.PRODUCTS:
            coupon.products.set(data.product_ids or [])
        if data.scope == CouponScope.CATEGORIES:
            coupon.categories.set(data.category_ids or [])
        audit.record(actor, "marketing.coupon_created", obj=coupon, data={"name": coupon.name})
    return coupon


def set_coupon_status(actor: Actor, coupon_id: int, status: str) -> Coupon:
    """Activate a draft, stop an active coupon (copies already held stay usable), or resume."""
    authorize(actor, "marketing.manage")
    if status not in CouponStatus.values or status == CouponStatus.DRAFT:
        raise ValidationFailed(fields={"status": _("Choose active or stopped.")})
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().filter(pk=coupon_id).first()
        if coupon is None:
            raise NotFound(_("No such coupon."))
        coupon.status = status
        coupon.save(update_fields=["status", "updated_at"])
        audit.record(actor, "marketing.coupon_status", obj=coupon, data={"status": status})
    return coupon


def coupons_for_staff(actor: Actor) -> QuerySet[Coupon]:
    authorize(actor, "marketing.view")
    return Coupon.objects.all()


def get_coupon(actor: Actor, coupon_id: int) -> Coupon:
    found = coupons_for_staff(actor).filter(pk=coupon_id).first()
    if found is None:
        raise NotFound(_("No such coupon."))
    return found


# --- giving coupons out -----------------------------------------------------------------------------


def _window(coupon: Coupon, now: datetime) -> tuple[datetime, datetime | None]:
    """When a copy given out `now` may be used."""
    if coupon.valid_days:
        until = now + timedelta(days=coupon.valid_days)
        if coupon.valid_until is not None:
            until = min(until, coupon.valid_until)
        return now, until
    return coupon.valid_from or now, coupon.valid_until


def _check_open(coupon: Coupon, now: datetime) -> None:
    if coupon.status != CouponStatus.ACTIVE:
        raise CouponUnavailable(
            _("The coupon “%(name)s” is not being given out.") % {"name": coupon.name},
            fields={"coupon_id": coupon.status},
        )
    if coupon.valid_until is not None and coupon.valid_until <= now:
        raise CouponUnavailable(
            _("The coupon “%(name)s” has ended.") % {"name": coupon.name},
            fields={"coupon_id": "ended"},
        )


def _held_count(coupon_id: int, customer_id: int) -> int:
    # revoked copies do not count towards the limit; used and expired ones do
    return (
        CustomerCoupon.objects.filter(coupon_id=coupon_id, customer_id=customer_id)
        .exclude(status=S.REVOKED)
        .count()
    )


def _existing_grant(key: str, coupon_id: int, customer_id: int) -> CustomerCoupon | None:
    found = CustomerCoupon.objects.filter(grant_key=key).first()
    if found is not None and (found.coupon_id != coupon_id or found.customer_id != customer_id):
        raise CouponGrantKeyReused(
            _("This idempotency key already granted a different coupon."),
            fields={"idempotency_key": key},
        )
    return found


def _give(
    coupon_id: int,
    customer_id: int,
    *,
    source: str,
    key: str,
    actor: Actor,
    detail: str = "",
) -> CustomerCoupon:
    """Give one copy under the coupon's lock; idempotent by `key`."""
    if not key or len(key) > 128:
        raise ValidationFailed(fields={"idempotency_key": _("Give a key of 1 to 128 characters.")})
    if (found := _existing_grant(key, coupon_id, customer_id)) is not None:
        return found
    customer = Customer.objects.filter(pk=customer_id).only("pk", "merged_into_id", "erased_at")
    customer = customer.first()
    if customer is None or not customer.is_active:
        raise NotFound(
            _("This customer account is not active."), fields={"customer_id": "inactive"}
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            coupon = Coupon.objects.select_for_update().filter(pk=coupon_id).first()
            if coupon is None:
                raise NotFound(_("No such coupon."), fields={"coupon_id": str(coupon_id)})
            # re-check under the lock: a concurrent grant with the same key may just have won
            if (found := _existing_grant(key, coupon_id, customer_id)) is not None:
                return found
            _check_open(coupon, now)
            if coupon.total_quantity is not None and coupon.issued_count >= coupon.total_quantity:
                raise CouponSoldOut(
                    _("Every “%(name)s” coupon has been given out.") % {"name": coupon.name},
                    fields={"coupon_id": "sold_out"},
                )
            if _held_count(coupon.pk, customer_id) >= coupon.per_customer_limit:
                raise CouponLimitReached(
                    _("You already have the most “%(name)s” coupons allowed (%(n)s).")
                    % {"name": coupon.name, "n": coupon.per_customer_limit},
                    fields={"coupon_id": "limit_reached"},
                )
            start, until = _window(coupon, now)
            held = CustomerCoupon.objects.create(
                coupon=coupon,
                customer_id=customer_id,
                code=_code(),
                source=source,
                source_detail=(detail or "")[:64],
                grant_key=key,
                valid_from=start,
                valid_until=until,
                created_at=now,
            )
            Coupon.objects.filter(pk=coupon.pk).update(issued_count=F("issued_count") + 1)
            CustomerCouponChange.objects.create(
                customer_coupon=held,
                from_status="",
                to_status=S.AVAILABLE,
                actor_kind=actor.kind,
                actor_id=actor.user_id if actor.is_staff else actor.customer_id,
                actor_label=actor.label[:150],
                note=source,
                created_at=now,
            )
    except IntegrityError:
        # the same key committed by a concurrent grant between our check and insert
        if (found := _existing_grant(key, coupon_id, customer_id)) is not None:
            return found
        raise
    return held


def grant_coupon(
    *,
    customer_id: int,
    coupon_id: int,
    source: str,
    idempotency_key: str,
    actor: Actor | None = None,
) -> CustomerCoupon:
    """Give a customer one copy of a coupon as a reward or benefit (membership tiers, referral
    rewards...).

    Idempotent: the same `idempotency_key` returns the copy it first created and never gives a
    second one (the key is global: prefix it with your app, e.g. "membership:tier:42:2026-11").
    Respects the coupon's total and per-customer limits. Raises a DomainError with code
    `coupon_unavailable` (draft, stopped or ended), `coupon_sold_out`, `coupon_limit_reached`,
    `coupon_key_reused` (the key granted something else), `not_found` (no such coupon or an
    inactive customer) or `validation_error` (a bad key). `source` is free text kept on the copy
    ("membership", "referral"...).
    """
    actor = actor or Actor.system(f"grant:{source}"[:150])
    if not actor.is_system:
        authorize(actor, "marketing.issue")
    return _give(
        int(coupon_id),
        int(customer_id),
        source=CouponSource.REWARD,
        key=f"grant:{idempotency_key}" if idempotency_key else "",
        actor=actor,
        detail=source,
    )


def claim(actor: Actor, coupon_id: int, *, via_share: str = "") -> CustomerCoupon:
    """A shopper takes a coupon from the coupon centre (or a share link, `via_share` its code).

    Taking it again after reaching the limit is refused; a coupon the centre does not show can
    still be claimed from its share link.
    """
    if actor.kind != "customer" or not actor.customer_id:
        raise PermissionDenied(_("Log in to claim coupons."))
    coupon = Coupon.objects.filter(pk=coupon_id).first()
    if coupon is None:
        raise NotFound(_("No such coupon."))
    if via_share:
        if via_share != coupon.share_code:
            raise NotFound(_("This share link is not valid."))
    elif not coupon.claimable:
        raise CouponUnavailable(_("This coupon is not in the coupon centre."))
    held_now = _held_count(coupon.pk, actor.customer_id)
    # one key per copy number: a retried tap returns the copy, a second allowed copy is new
    key = f"claim:{coupon.pk}:{actor.customer_id}:{held_now + 1}"
    return _give(
        coupon.pk,
        actor.customer_id,
        source=CouponSource.SHARE if via_share else CouponSource.CLAIM,
        key=key,
        actor=actor,
    )


def coupon_by_share_code(code: str) -> Coupon:
    found = Coupon.objects.filter(share_code=(code or "")[:16]).first()
    if found is None:
        raise NotFound(_("This share link is not valid."))
    return found


ISSUE_CHUNK = 1000


def issue(
    actor: Actor,
    coupon_id: int,
    *,
    customer_ids: list[int] | None = None,
    segment_id: int | None = None,
    notify: bool = False,
    channel: str = "sms",
) -> CouponIssue:
    """Issue a coupon to a list of customers or to a segment's members, one copy each.

    Customers at the per-customer limit, inactive ones and anyone past the coupon's remaining
    total are skipped (counted in `skipped`). Issuing is a service to the customer, so it is not
    limited by marketing consent; the *notification* is: with `notify`, only customers who pass
    `customers.services.contactable(channel)` get a `CouponNotice`, the others find the coupon
    in "my coupons" next time they visit.
    """
    authorize(actor, "marketing.issue")
    coupon = get_coupon(actor, coupon_id)
    _check_open(coupon, timezone.now())
    label = ""
    if segment_id is not None:
        from siyu.segments import services as segments

        segment = segments.get_segment(actor, segment_id)
        table, _meta = segments.member_ids(actor, segment.rule)
        ids = [int(x) for x in table.column("customer_id").to_pylist()]
        label = _("Segment: %(name)s") % {"name": segment.name}
    elif customer_ids:
        ids = sorted({int(x) for x in customer_ids})
        label = _("%(n)s chosen customers") % {"n": len(ids)}
    else:
        raise ValidationFailed(
            _("Choose customers or a segment."), fields={"customer_ids": _("required")}
        )
    run = CouponIssue.objects.create(
        coupon=coupon,
        segment_id=segment_id,
        target_label=label[:120],
        requested=len(ids),
        notify=notify,
        created_by_id=actor.user_id if actor.is_staff else None,
    )
    issued = skipped = notified = 0
    for start in range(0, len(ids), ISSUE_CHUNK):
        got, missed, told = _issue_chunk(
            run, coupon.pk, ids[start : start + ISSUE_CHUNK], actor, notify, channel
        )
        issued, skipped, notified = issued + got, skipped + missed, notified + told
    CouponIssue.objects.filter(pk=run.pk).update(issued=issued, skipped=skipped, notified=notified)
    run.refresh_from_db()
    audit.record(
        actor,
        "marketing.coupon_issued",
        obj=coupon,
        data={"issue": run.pk, "issued": issued, "skipped": skipped, "target": label},
    )
    return run


def _issue_chunk(
    run: CouponIssue, coupon_id: int, ids: list[int], actor: Actor, notify: bool, channel: str
) -> tuple[int, int, int]:
    """Set-based: one lock on the coupon, one query for who is eligible, one bulk insert."""
    now = timezone.now()
    with transaction.atomic():
        coupon = Coupon.objects.select_for_update().get(pk=coupon_id)
        active = set(
            Customer.objects.filter(
                pk__in=ids, merged_into__isnull=True, erased_at__isnull=True
            ).values_list("pk", flat=True)
        )
        held = dict(
            CustomerCoupon.objects.filter(coupon_id=coupon_id, customer_id__in=list(active))
            .exclude(status=S.REVOKED)
            .values("customer_id")
            .annotate(n=Count("id"))
            .values_list("customer_id", "n")
        )
        already = set(
            CustomerCoupon.objects.filter(
                grant_key__in=[f"issue:{run.pk}:{cid}" for cid in active]
            ).values_list("customer_id", flat=True)
        )
        wanted = [
            cid
            for cid in ids
            if cid in active and cid not in already and held.get(cid, 0) < coupon.per_customer_limit
        ]
        if coupon.total_quantity is not None:
            wanted = wanted[: max(0, coupon.total_quantity - coupon.issued_count)]
        start, until = _window(coupon, now)
        copies = CustomerCoupon.objects.bulk_create(
            [
                CustomerCoupon(
                    coupon_id=coupon_id,
                    customer_id=cid,
                    code=_code(),
                    source=CouponSource.ISSUE,
                    source_detail=f"issue:{run.pk}",
                    grant_key=f"issue:{run.pk}:{cid}",
                    valid_from=start,
                    valid_until=until,
                    issue=run,
                    created_at=now,
                )
                for cid in wanted
            ]
        )
        if not copies:
            return 0, len(ids), 0
        Coupon.objects.filter(pk=coupon_id).update(issued_count=F("issued_count") + len(copies))
        CustomerCouponChange.objects.bulk_create(
            [
                CustomerCouponChange(
                    customer_coupon=c,
                    from_status="",
                    to_status=S.AVAILABLE,
                    actor_kind=actor.kind,
                    actor_id=actor.user_id,
                    actor_label=actor.label[:150],
                    note=f"issue:{run.pk}",
                    created_at=now,
                )
                for c in copies
            ]
        )
        told = 0
        if notify:
            from siyu.customers.services import contactable

            reachable = set(
                contactable(channel, Customer.objects.filter(pk__in=wanted)).values_list(
                    "pk", flat=True
                )
            )
            notices = [
                CouponNotice(customer_coupon=c, customer_id=c.customer_id, channel=channel)
                for c in copies
                if c.customer_id in reachable
            ]
            CouponNotice.objects.bulk_create(notices)
            told = len(notices)
    return len(copies), len(ids) - len(copies), told


# --- a shopper's coupons ----------------------------------------------------------------------------


def expire_copies(now: datetime | None = None, *, limit: int = 5000) -> int:
    """Mark copies past their end as expired (the pages also hide them by date)."""
    now = now or timezone.now()
    ids = list(
        CustomerCoupon.objects.filter(status=S.AVAILABLE, valid_until__lte=now)
        .order_by("valid_until", "id")
        .values_list("pk", flat=True)[:limit]
    )
    system = Actor.system("coupon-expiry")
    done = 0
    for pk in ids:
        with transaction.atomic():
            held = CustomerCoupon.objects.select_for_update().filter(pk=pk).first()
            if held is None or held.status != S.AVAILABLE:
                continue
            transition_coupon(held, S.EXPIRED, actor=system, note="expired")
            done += 1
    return done


def my_coupons(actor: Actor, *, state: str = "available") -> QuerySet[CustomerCoupon]:
    """The shopper's own coupons: available (and usable now or later), used, or expired."""
    if actor.kind != "customer":
        raise PermissionDenied(_("Log in to see your coupons."))
    now = timezone.now()
    qs = CustomerCoupon.objects.filter(customer_id=actor.customer_id).select_related("coupon")
    if state == "used":
        return qs.filter(status=S.USED).order_by("-used_at", "-id")
    if state == "expired":
        return qs.filter(
            Q(status=S.EXPIRED) | Q(status=S.AVAILABLE, valid_until__lte=now)
        ).order_by("-valid_until", "-id")
    return qs.filter(status=S.AVAILABLE).exclude(valid_until__lte=now).order_by("valid_until", "id")


def centre(actor: Actor) -> list[dict]:
    """The coupon centre: active, claimable coupons with what this shopper already holds."""
    now = timezone.now()
    coupons = list(
        Coupon.objects.filter(status=CouponStatus.ACTIVE, claimable=True)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .order_by("-created_at", "-id")[:100]
    )
    held: dict[int, int] = {}
    if actor.kind == "customer":
        held = dict(
            CustomerCoupon.objects.filter(
                customer_id=actor.customer_id, coupon_id__in=[c.pk for c in coupons]
            )
            .exclude(status=S.REVOKED)
            .values("coupon_id")
            .annotate(n=Count("id"))
            .values_list("coupon_id", "n")
        )
    return [
        {
            "coupon": c,
            "held": held.get(c.pk, 0),
            "can_claim": held.get(c.pk, 0) < c.per_customer_limit
            and (c.total_quantity is None or c.issued_count < c.total_quantity),
            "sold_out": c.total_quantity is not None and c.issued_count >= c.total_quantity,
        }
        for c in coupons
    ]


# --- checkout ---------------------------------------------------------------------------------------


def terms_of(coupon: Coupon) -> rules.CouponTerms:
    return rules.CouponTerms(
        kind=coupon.kind,
        amount_fen=coupon.amount_fen,
        percent_off=coupon.percent_off,
        max_discount_fen=coupon.max_discount_fen,
        min_spend_fen=coupon.min_spend_fen,
        scope=coupon.scope,
        product_ids=frozenset(coupon.products.values_list("pk", flat=True))
        if coupon.scope == CouponScope.PRODUCTS
        else frozenset(),
        category_ids=frozenset(coupon.categories.values_list("pk", flat=True))
        if coupon.scope == CouponScope.CATEGORIES
        else frozenset(),
    )


def quote_lines(quote) -> list[rules.Line]:
    return [
        rules.Line(ln.line_no, ln.product_id, ln.category_id, ln.payable_fen) for ln in quote.lines
    ]


REASONS = {
    "no_eligible_items": gettext_lazy("none of these items is covered by this coupon"),
    "below_minimum": gettext_lazy("the order does not reach the minimum spend"),
    "not_started": gettext_lazy("the coupon is not valid yet"),
    "expired": gettext_lazy("the coupon has expired"),
    "used": gettext_lazy("the coupon was already used"),
    "no_saving": gettext_lazy("delivery is already free for this order"),
    "unknown_kind": gettext_lazy("the coupon cannot be used"),
}


def reason_text(reason: str) -> str:
    return str(REASONS.get(reason, REASONS["unknown_kind"]))


def saved_shipping_fen(quote) -> int:
    """What delivery would cost this order without a free-shipping coupon."""
    from siyu.orders import pricing

    was = quote.free_shipping
    quote.free_shipping = False
    try:
        return pricing.shipping_fee(quote)
    finally:
        quote.free_shipping = was


def evaluate(held: CustomerCoupon, quote, now: datetime | None = None) -> tuple[int, str]:
    """(discount on the goods, "" or a reason code) for using `held` on `quote`."""
    now = now or timezone.now()
    if held.status != S.AVAILABLE:
        return 0, "used" if held.status == S.USED else "expired"
    if held.valid_from and held.valid_from > now:
        return 0, "not_started"
    if held.valid_until is not None and held.valid_until <= now:
        return 0, "expired"
    return rules.discount_fen(terms_of(held.coupon), quote_lines(quote))


def usable_for(actor: Actor, quote) -> list[dict]:
    """The shopper's coupons for this quote, best first: [{"held", "discount_fen", "saves_fen",
    "reason"}]. `saves_fen` counts free shipping at what delivery would have cost."""
    if actor.kind != "customer":
        return []
    now = timezone.now()
    shipping = None
    found = []
    for held in my_coupons(actor).prefetch_related("coupon__products", "coupon__categories"):
        amount, reason = evaluate(held, quote, now)
        saves = amount
        if not reason and held.coupon.kind == CouponKind.FREE_SHIPPING:
            shipping = saved_shipping_fen(quote) if shipping is None else shipping
            saves = shipping
            if not saves:
                reason = "no_saving"
        found.append(
            {
                "held": held,
                "discount_fen": amount,
                "saves_fen": saves,
                "reason": reason,
                "reason_text": reason_text(reason) if reason else "",
            }
        )
    found.sort(key=lambda c: (bool(c["reason"]), -c["saves_fen"], c["held"].valid_until or now))
    return found


def best_code(actor: Actor, quote) -> str:
    """The code of the coupon saving this quote the most, or ""."""
    for option in usable_for(actor, quote):
        if not option["reason"] and option["saves_fen"] > 0:
            return option["held"].code
        break
    return ""


def held_by_code(customer_id: int, code: str) -> CustomerCoupon:
    held = (
        CustomerCoupon.objects.filter(customer_id=customer_id, code=(code or "").strip().upper())
        .select_related("coupon")
        .first()
    )
    if held is None:
        raise CouponNotUsable(
            _("Coupon %(code)s is not one of yours.") % {"code": code},
            fields={"coupon_codes": _("unknown coupon")},
        )
    return held


def use(held_id: int, *, order_id: int, customer_id: int, discount_fen: int) -> CustomerCoupon:
    """Mark a copy used by `order_id`, inside the order's placement transaction. The row lock
    makes a second order racing for the same copy wait, then find it used and fail."""
    held = CustomerCoupon.objects.select_for_update().filter(pk=held_id).first()
    if held is None or held.customer_id != customer_id:
        raise CouponNotUsable(fields={"coupon_codes": _("unknown coupon")})
    now = timezone.now()
    if held.status != S.AVAILABLE or (held.valid_until is not None and held.valid_until <= now):
        raise CouponNotUsable(
            _("Coupon %(code)s was already used or has expired.") % {"code": held.code},
            fields={"coupon_codes": _("already used")},
        )
    held.order_id = order_id
    held.discount_fen = discount_fen
    held.used_at = now
    transition_coupon(
        held,
        S.USED,
        actor=Actor.for_customer(customer_id),
        note=f"order:{order_id}",
        update_fields=("order", "discount_fen", "used_at"),
    )
    return held


def give_back(order_id: int, *, reason: str, actor: Actor) -> CustomerCoupon | None:
    """Return the copy an order used (its order was cancelled, or refunded under a returning
    rule). Idempotent: nothing happens if it is not used by that order any more. A copy past its
    end date comes back expired."""
    held = (
        CustomerCoupon.objects.select_for_update().filter(order_id=order_id, status=S.USED).first()
    )
    if held is None:
        return None
    now = timezone.now()
    target = S.EXPIRED if held.valid_until is not None and held.valid_until <= now else S.AVAILABLE
    held.order_id = None
    held.discount_fen = 0
    held.used_at = None
    held.times_returned = F("times_returned") + 1
    transition_coupon(
        held,
        target,
        actor=actor,
        note=f"{reason} order:{order_id}",
        update_fields=("order", "discount_fen", "used_at", "times_returned"),
    )
    return held


def return_if_fully_refunded(order_id: int) -> CustomerCoupon | None:
    """Called on each refunded line: once nothing of the order is left unrefunded, a coupon
    whose rule says so comes back."""
    from siyu.orders.models import OrderLine

    held = (
        CustomerCoupon.objects.filter(order_id=order_id, status=S.USED)
        .select_related("coupon")
        .first()
    )
    if held is None or held.coupon.refund_policy != RefundPolicy.RETURN_ON_FULL_REFUND:
        return None
    left = OrderLine.objects.filter(order_id=order_id, refunded_quantity__lt=F("quantity"))
    if left.exists():
        return None
    return give_back(order_id, reason="refunded", actor=Actor.system("refund"))


# --- figures ----------------------------------------------------------------------------------------

PAID_STATUSES = ("paid", "partially_shipped", "shipped", "delivered", "completed", "closed")


def coupon_figures(coupon_ids: list[int]) -> dict[int, dict]:
    """Live figures per coupon: claimed (held copies), used, GMV driven (what orders that used it
    paid) and cost (the discount those orders got, free shipping at its saved fee)."""
    from siyu.orders.models import Order

    out = {cid: {"claimed": 0, "used": 0, "gmv_fen": 0, "cost_fen": 0} for cid in coupon_ids}
    for row in (
        CustomerCoupon.objects.filter(coupon_id__in=coupon_ids)
        .exclude(status=S.REVOKED)
        .values("coupon_id")
        .annotate(claimed=Count("id"), used=Count("id", filter=Q(status=S.USED)))
    ):
        out[row["coupon_id"]].update(claimed=row["claimed"], used=row["used"])
    paid = Order.objects.filter(status__in=PAID_STATUSES)
    for row in (
        CustomerCoupon.objects.filter(
            coupon_id__in=coupon_ids, status=S.USED, order_id__in=paid.values("pk")
        )
        .values("coupon_id")
        .annotate(gmv=Sum("order__paid_fen"), cost=Sum("discount_fen"))
    ):
        out[row["coupon_id"]].update(gmv_fen=row["gmv"] or 0, cost_fen=row["cost"] or 0)
    return out


def settings_summary() -> dict:
    return {"shipping_fee_fen": settings.SIYU_SHIPPING_FEE_FEN}
