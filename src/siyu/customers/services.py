"""The customer pool's business rules: who sees which customers, finding them, one record per person,
owners, tags, consent, and personal-data requests (PIPL).

Every console page, API endpoint and export goes through `visible_customers(actor)`: the row scope
(a clerk sees the customers they own, a store manager their store's) is defined here and nowhere
else. Anything that scales with the number of customers (bulk tagging, hand-overs, rule tags) is one
set-based statement, never a Python loop over customers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core import audit, crypto, events
from siyu.core.access import Actor, Role, authorize
from siyu.core.errors import Conflict, NotFound, ValidationFailed

from .events import (
    ConsentChanged,
    CustomerCreated,
    CustomerErased,
    CustomersHandedOver,
    CustomersMerged,
    CustomersTagged,
    OwnerChanged,
)
from .identity import (
    STRONG_KINDS,
    choose_customer,
    identity_hash,
    normalize_identity,
    phone_columns,
    suggestion_pair,
)
from .models import (
    Consent,
    ConsentChannel,
    ConsentEvent,
    Customer,
    CustomerTag,
    Identity,
    IdentityKind,
    MergeRecord,
    MergeSuggestion,
    OwnerKind,
    Ownership,
    Source,
    Tag,
    TagGroup,
    Touch,
)

log = logging.getLogger(__name__)

# --- row scope: the one place ----------------------------------------------------------------------


def scope_filter(actor: Actor) -> Q:
    """The rows `actor` may see, as a filter: all for owners, operators, analysts and the system;
    the home store's customers for a store manager; the customers a clerk owns for a clerk."""
    if actor.sees_all_stores:
        return Q()
    if actor.kind == "staff" and actor.role == Role.STORE_MANAGER and actor.store_id:
        return Q(store_id=actor.store_id)
    if actor.kind == "staff" and actor.role == Role.CLERK and actor.user_id:
        return Q(owner_user_id=actor.user_id)
    return Q(pk__in=[])


def visible_customers(actor: Actor, *, include_inactive: bool = False) -> QuerySet[Customer]:
    """Customers the actor may see. Merged tombstones and erased records are left out unless asked."""
    authorize(actor, "customers.view")
    qs = Customer.objects.filter(scope_filter(actor))
    if not include_inactive:
        qs = qs.filter(merged_into__isnull=True, erased_at__isnull=True)
    return qs


def get_customer(actor: Actor, customer_id: int) -> Customer:
    """One customer in the actor's scope (tombstones and erased records included), else NotFound."""
    customer = (
        visible_customers(actor, include_inactive=True)
        .select_related("owner_user", "store", "merged_into", "referred_by")
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(_("No such customer, or not one of yours."))
    return customer


def can_see(actor: Actor, customer: Customer) -> bool:
    if not actor.can("customers.view"):
        return False
    return visible_customers(actor, include_inactive=True).filter(pk=customer.pk).exists()


def _lock(actor: Actor, customer_id: int, perm: str) -> Customer:
    """Authorise, then lock one customer in the actor's scope (NotFound outside it)."""
    authorize(actor, perm)
    customer = (
        visible_customers(actor, include_inactive=True)
        .select_for_update()
        .filter(pk=customer_id)
        .first()
    )
    if customer is None:
        raise NotFound(_("No such customer, or not one of yours."))
    return customer


def _require_active(customer: Customer) -> None:
    if customer.merged_into_id:
        raise Conflict(
            _("Customer #%(id)s was merged into #%(into)s; work on that record instead.")
            % {"id": customer.pk, "into": customer.merged_into_id},
            code="customer_merged",
        )
    if customer.erased_at:
        raise Conflict(
            _("Customer #%(id)s was erased on request.") % {"id": customer.pk},
            code="customer_erased",
        )


# --- masking ---------------------------------------------------------------------------------------


def shows_pii(actor: Actor) -> bool:
    return actor.can("customers.view_pii")


def display_name(actor: Actor, customer: Customer) -> str:
    if customer.erased_at:
        return _("(erased)")
    if not customer.name:
        return f"#{customer.pk}"
    return customer.name if shows_pii(actor) else crypto.mask_name(customer.name)


def display_phone(actor: Actor, customer: Customer, *, full: bool = False) -> str:
    """Masked (138****1234) in lists and for roles without customers.view_pii; whole on a detail
    page (`full=True`) for roles that hold it."""
    if full and shows_pii(actor):
        return customer.phone or ""
    return crypto.mask_phone(customer.phone)


def display_identity(actor: Actor, identity: Identity) -> str:
    value = identity.value or ""
    if shows_pii(actor):
        return value
    if identity.kind == IdentityKind.PHONE:
        return crypto.mask_phone(value)
    return crypto.mask_text(value, keep=3)


# --- search ----------------------------------------------------------------------------------------

_DIGITS = re.compile(r"^\d+$")
_CUSTOMER_NO = re.compile(r"^#(\d+)$")


def _local_day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass
class CustomerFilters:
    """A filtered customer list: the console list, its CSV export, bulk tagging and the API share it.

    `q` is one search box: an 11-digit mobile finds the phone (keyed hash, exact), four digits
    find the last four digits (尾号), `#123` a customer number, a platform id or unionid finds that
    identity (exact), anything else a name prefix.
    """

    q: str = ""
    source: str = ""
    tags: list[int] = field(default_factory=list)
    owner: int | None = None
    unowned: bool = False
    store: int | None = None
    city: str = ""
    consent: str = ""  # a ConsentChannel (contactable there) or "opted_out"
    since: date | None = None  # first seen on or after (Asia/Shanghai day)
    until: date | None = None  # first seen on or before

    PARAMS = ("q", "source", "tag", "owner", "store", "city", "consent", "since", "until")

    @classmethod
    def from_params(cls, params: Mapping) -> CustomerFilters:
        """Parse query parameters (a QueryDict or a dict); bad values name their field."""
        errors: dict[str, str] = {}

        def get(name: str) -> str:
            value = params.get(name)
            return str(value).strip() if value not in (None, "") else ""

        def as_int(name: str, raw: str) -> int | None:
            if not raw:
                return None
            try:
                return int(raw)
            except ValueError:
                errors[name] = _("Not a number.")
                return None

        def as_date(name: str) -> date | None:
            raw = get(name)
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                errors[name] = _("Use a date like 2026-01-31.")
                return None

        raw_tags = params.getlist("tag") if hasattr(params, "getlist") else params.get("tag")
        if raw_tags in (None, ""):
            raw_tags = []
        elif not isinstance(raw_tags, list | tuple):
            raw_tags = [raw_tags]
        tags = [t for t in (as_int("tag", str(r).strip()) for r in raw_tags if r) if t]
        source = get("source")
        if source and source not in Source.values:
            errors["source"] = _("Unknown source.")
        consent = get("consent")
        if consent and consent not in ConsentChannel.values and consent != "opted_out":
            errors["consent"] = _("Unknown channel.")
        owner_raw = get("owner")
        filters = cls(
            q=get("q")[:100],
            source=source,
            tags=tags,
            owner=None if owner_raw == "none" else as_int("owner", owner_raw),
            unowned=owner_raw == "none",
            store=as_int("store", get("store")),
            city=get("city")[:30],
            consent=consent,
            since=as_date("since"),
            until=as_date("until"),
        )
        if filters.since and filters.until and filters.since > filters.until:
            errors["until"] = _("The end date is before the start date.")
        if errors:
            raise ValidationFailed(_("Some filters are invalid."), fields=errors)
        return filters

    def as_params(self) -> dict[str, object]:
        params: dict[str, object] = {}
        for name in ("q", "source", "city", "consent"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        if self.tags:
            params["tag"] = self.tags
        if self.unowned:
            params["owner"] = "none"
        elif self.owner:
            params["owner"] = self.owner
        if self.store:
            params["store"] = self.store
        if self.since:
            params["since"] = self.since.isoformat()
        if self.until:
            params["until"] = self.until.isoformat()
        return params

    @property
    def is_empty(self) -> bool:
        return not self.as_params()


def _search(qs: QuerySet[Customer], q: str) -> QuerySet[Customer]:
    q = q.strip()
    if not q:
        return qs
    if m := _CUSTOMER_NO.match(q):
        return qs.filter(pk=int(m.group(1)))
    compact = q.replace(" ", "").replace("-", "")
    if _DIGITS.match(compact) and len(compact) == 4:
        return qs.filter(phone_last4=compact)
    phone = crypto.normalize_phone(compact) if _DIGITS.match(compact.lstrip("+")) else None
    if phone:
        # every phone a customer has (not only the main one) is an Identity row
        return qs.filter(
            pk__in=Identity.objects.filter(
                kind=IdentityKind.PHONE, value_hash=identity_hash(IdentityKind.PHONE, phone)
            ).values("customer_id")
        )
    # an exact platform id, unionid, member number...: one indexed lookup, before the name search
    lookups = Q()
    for kind in STRONG_KINDS - {IdentityKind.PHONE}:
        value = normalize_identity(kind, q)
        if value:
            lookups |= Q(kind=kind, value_hash=identity_hash(kind, value))
    if lookups:
        ids = list(Identity.objects.filter(lookups).values_list("customer_id", flat=True)[:100])
        if ids:
            return qs.filter(pk__in=ids)
    return _name_prefix(qs, q)


def _name_prefix(qs: QuerySet[Customer], q: str) -> QuerySet[Customer]:
    if connection.vendor == "sqlite":
        # SQLite's LIKE is case-insensitive and cannot use the (binary) name index; a range on
        # the same index finds exactly the names starting with q
        return qs.filter(name__gte=q, name__lt=q + "\U0010ffff")
    # PostgreSQL: LIKE 'q%' uses the varchar_pattern_ops index Django adds for db_index columns
    return qs.filter(name__startswith=q)


def search_customers(actor: Actor, filters: CustomerFilters) -> QuerySet[Customer]:
    """The actor's customers narrowed by `filters`, unordered (callers page it by id)."""
    qs = visible_customers(actor)
    qs = _search(qs, filters.q)
    if filters.source:
        qs = qs.filter(source=filters.source)
    for tag_id in filters.tags:
        qs = qs.filter(pk__in=CustomerTag.objects.filter(tag_id=tag_id).values("customer_id"))
    if filters.unowned:
        qs = qs.filter(owner_kind="")
    elif filters.owner:
        qs = qs.filter(owner_user_id=filters.owner)
    if filters.store:
        qs = qs.filter(store_id=filters.store)
    if filters.city:
        qs = qs.filter(city=filters.city)
    if filters.consent == "opted_out":
        qs = qs.filter(opted_out_at__isnull=False)
    elif filters.consent:
        qs = contactable(filters.consent, qs)
    if filters.since or filters.until:
        period = Q()
        if filters.since:
            period &= Q(first_seen_at__gte=_local_day_start(filters.since))
        if filters.until:
            period &= Q(first_seen_at__lt=_local_day_start(filters.until + timedelta(days=1)))
        qs = qs.filter(period)
        # Ids grow with time, but a planner assumes they don't: asked for the newest 50 of last
        # June, it walks the id index back from today through every newer customer. Bounding
        # the ids to those first seen in the period keeps the walk short. (`id + 0`: a plain
        # MIN(id) would be answered by walking the id index the same slow way; this reads the
        # period's slice of the first-seen index instead.)
        bounds = Customer.objects.filter(
            period, merged_into__isnull=True, erased_at__isnull=True
        ).aggregate(lo=Min(F("pk") + 0), hi=Max(F("pk") + 0))
        if bounds["lo"] is None:
            return qs.none()
        qs = qs.filter(pk__gte=bounds["lo"], pk__lte=bounds["hi"])
    return qs


def with_list_columns(qs: QuerySet[Customer]) -> QuerySet[Customer]:
    """What a list row shows: owner, store and tags in three queries per page, not per row."""
    return qs.select_related("owner_user", "store").prefetch_related("customer_tags__tag__group")


# --- consent: who may be contacted -----------------------------------------------------------------


def contactable(channel: str, qs: QuerySet[Customer] | None = None) -> QuerySet[Customer]:
    """Customers who may receive marketing on `channel`: active, not opted out of everything, and
    holding a granted consent for that channel. Every app that sends anything filters through this."""
    if channel not in ConsentChannel.values:
        raise ValidationFailed(_("Unknown channel."), fields={"channel": channel})
    base = qs if qs is not None else Customer.objects.all()
    return base.filter(
        merged_into__isnull=True,
        erased_at__isnull=True,
        opted_out_at__isnull=True,
        pk__in=Consent.objects.filter(channel=channel, granted=True).values("customer_id"),
    )


def is_contactable(customer_id: int, channel: str) -> bool:
    return contactable(channel).filter(pk=customer_id).exists()


# --- single-record identity resolution -------------------------------------------------------------


@dataclass
class ContactInput:
    """One person arriving from the console, the API or an H5 sign-up page."""

    source: str = Source.OTHER
    name: str = ""
    phone: str = ""
    identities: dict[str, str] = field(default_factory=dict)  # IdentityKind -> raw value
    source_detail: str = ""
    gender: str = ""
    birthday: date | None = None
    province: str = ""
    city: str = ""
    referred_by_id: int | None = None
    occurred_at: datetime | None = None
    touch_ref: str = ""  # business key of what brought them (H5 sign-up id): registers once
    consents: dict[str, bool] = field(default_factory=dict)  # ConsentChannel -> granted
    consent_source: str = ""
    owner_user_id: int | None = None  # a clerk to serve them (a registering clerk by default)


@dataclass
class Registration:
    customer: Customer
    created: bool
    suggestions: list[MergeSuggestion]
    visible: bool


def _normalized_identities(data: ContactInput) -> list[tuple[str, str, str]]:
    errors: dict[str, str] = {}
    found: dict[tuple[str, str], str] = {}
    raw = [(IdentityKind.PHONE.value, data.phone)] if data.phone else []
    raw += list(data.identities.items())
    for kind, value in raw:
        if kind not in STRONG_KINDS:
            errors[f"identities.{kind}"] = _("Unknown identity kind.")
            continue
        if value in (None, ""):
            continue
        normal = normalize_identity(kind, value)
        if normal is None:
            field_name = "phone" if kind == IdentityKind.PHONE else f"identities.{kind}"
            errors[field_name] = (
                _("Not a valid mainland mobile number.")
                if kind == IdentityKind.PHONE
                else _("Not a usable value (empty or masked).")
            )
            continue
        found[(kind, normal)] = identity_hash(kind, normal)
    if data.source not in Source.values:
        errors["source"] = _("Unknown source.")
    if data.gender and data.gender not in ("f", "m"):
        errors["gender"] = _("Use f or m.")
    for channel in data.consents:
        if channel not in ConsentChannel.values:
            errors[f"consents.{channel}"] = _("Unknown channel.")
    if not found and not errors:
        errors["phone"] = _("Give a mobile number or another identity (unionid, platform id...).")
    if errors:
        raise ValidationFailed(_("Some fields are invalid."), fields=errors)
    return [(kind, value, h) for (kind, value), h in found.items()]


def register_contact(data: ContactInput, *, actor: Actor) -> Registration:
    """Find or create the customer behind one contact.

    A contact sharing a strong identity with a customer attaches to them (new identities, a touch,
    blank profile fields filled in). If its identities point at two different customers nothing is
    merged: it attaches to one (see identity.choose_customer) and a MergeSuggestion asks a person.
    """
    authorize(actor, "customers.edit")
    normalized = _normalized_identities(data)
    for attempt in range(3):
        try:
            with transaction.atomic():
                result = _register(data, normalized, actor)
            break
        except IntegrityError:
            # the same identity was registered concurrently; resolving again now finds it
            if attempt == 2:
                raise
            log.info("contact registered concurrently; resolving it again")
    result.visible = can_see(actor, result.customer)
    return result


def _register(
    data: ContactInput, normalized: list[tuple[str, str, str]], actor: Actor
) -> Registration:
    now = timezone.now()
    occurred_at = data.occurred_at or now
    lookup = Q()
    for kind, _value, h in normalized:
        lookup |= Q(kind=kind, value_hash=h)
    matches = list(Identity.objects.filter(lookup).values_list("kind", "value_hash", "customer_id"))
    # lock the matched customers in id order (merges lock the same way), then re-read the
    # identities: a merge that finished meanwhile moved them to the survivor
    if matches:
        ids = sorted({m[2] for m in matches})
        live = dict(
            Customer.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", "merged_into_id")
        )
        matches = list(
            Identity.objects.filter(lookup).values_list("kind", "value_hash", "customer_id")
        )
        matches = [(k, h, live.get(c) or c) for k, h, c in matches]
    chosen_id, others = choose_customer((kind, cid) for kind, _h, cid in matches)
    taken = {(kind, h) for kind, h, _cid in matches}
    new_identities = [(k, v, h) for k, v, h in normalized if (k, h) not in taken]
    phone = next((v for k, v, _h in normalized if k == IdentityKind.PHONE), "")

    created = chosen_id is None
    if created:
        customer = Customer(
            name=data.name.strip()[:100],
            gender=data.gender,
            birthday=data.birthday,
            province=data.province.strip()[:30],
            city=data.city.strip()[:30],
            source=data.source,
            source_detail=data.source_detail.strip()[:100],
            first_seen_at=occurred_at,
            created_at=now,
            referred_by_id=data.referred_by_id,
            **phone_columns(phone),
        )
        if actor.kind == "staff" and actor.role == Role.STORE_MANAGER:
            customer.store_id = actor.store_id
        customer.save()
    else:
        customer = Customer.objects.select_for_update().get(pk=chosen_id)
        changed = _fill_blanks(customer, data, phone)
        if occurred_at < customer.first_seen_at:
            # an older contact than any we knew: it, not the later one, is where they came from
            customer.first_seen_at = occurred_at
            customer.source = data.source
            customer.source_detail = data.source_detail.strip()[:100]
            changed = True
        if customer.store_id is None and actor.kind == "staff" and actor.role == Role.STORE_MANAGER:
            customer.store_id = actor.store_id
            changed = True
        if changed:
            customer.save()

    Identity.objects.bulk_create(
        [
            Identity(customer=customer, kind=k, value_hash=h, value=v, source=data.source)
            for k, v, h in new_identities
        ]
    )
    touch = Touch(
        customer=customer,
        source=data.source,
        detail=data.source_detail.strip()[:200],
        occurred_at=occurred_at,
        ref=data.touch_ref[:100],
    )
    Touch.objects.bulk_create([touch], ignore_conflicts=bool(touch.ref))

    suggestions = []
    kinds_by_customer: dict[int, set[str]] = {}
    for kind, _h, cid in matches:
        kinds_by_customer.setdefault(cid, set()).add(kind)
    for other in others:
        suggestion = _suggest(
            customer.pk,
            other,
            # stored data, not UI text: the same in every language
            reason=(
                f"{data.source}: "
                f"{'+'.join(sorted(kinds_by_customer.get(customer.pk, ())))} → #{customer.pk}, "
                f"{'+'.join(sorted(kinds_by_customer.get(other, ())))} → #{other}"
            ),
        )
        if suggestion is not None:
            suggestions.append(suggestion)

    recorded_by = actor.label
    for channel, granted in data.consents.items():
        _record_consent(
            customer,
            channel,
            granted,
            source=data.consent_source or data.source,
            recorded_by=recorded_by,
            at=occurred_at,
        )

    owner_id = data.owner_user_id
    if owner_id is None and actor.kind == "staff" and actor.role == Role.CLERK:
        owner_id = actor.user_id
    if owner_id and not customer.owner_kind:
        clerk = _clerk(owner_id, actor)
        _set_owner(
            customer,
            OwnerKind.CLERK,
            clerk.pk,
            user=clerk,
            label=clerk.name,
            store_id=clerk.store_id,
            reason=_("added the contact"),
            by=actor.label,
            now=now,
        )
    _refresh_in_pool([customer.pk])
    if created:
        events.publish(CustomerCreated(customer.pk, data.source))
    customer.refresh_from_db()
    return Registration(customer=customer, created=created, suggestions=suggestions, visible=True)


def _fill_blanks(customer: Customer, data: ContactInput, phone: str) -> bool:
    changed = False
    for attr, value in (
        ("name", data.name.strip()[:100]),
        ("gender", data.gender),
        ("birthday", data.birthday),
        ("province", data.province.strip()[:30]),
        ("city", data.city.strip()[:30]),
        ("referred_by_id", data.referred_by_id),
    ):
        if value and not getattr(customer, attr):
            setattr(customer, attr, value)
            changed = True
    if phone and not customer.phone:
        for attr, value in phone_columns(phone).items():
            setattr(customer, attr, value)
        changed = True
    return changed


def _suggest(a: int, b: int, *, reason: str) -> MergeSuggestion | None:
    """Ask a person whether a and b are one customer; a dismissed pair is never asked again."""
    first, second = suggestion_pair(a, b)
    suggestion, created = MergeSuggestion.objects.get_or_create(
        customer_a_id=first, customer_b_id=second, defaults={"reason": reason[:200]}
    )
    return suggestion if suggestion.status == MergeSuggestion.Status.OPEN else None


# --- profile ---------------------------------------------------------------------------------------


def update_profile(customer_id: int, *, actor: Actor, **changes) -> Customer:
    """Edit the plain profile fields (name, gender, birthday, province, city)."""
    allowed = {"name", "gender", "birthday", "province", "city"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            _("These fields cannot be edited here."),
            fields={f: _("Not editable.") for f in unknown},
        )
    if changes.get("gender") not in (None, "", "f", "m"):
        raise ValidationFailed(_("Some fields are invalid."), fields={"gender": _("Use f or m.")})
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.edit")
        _require_active(customer)
        for attr, value in changes.items():
            if attr != "birthday" and value is None:
                value = ""
            setattr(customer, attr, value.strip() if isinstance(value, str) else value)
        customer.save()
    return customer


# --- merging ---------------------------------------------------------------------------------------


@dataclass
class MergeSide:
    customer: Customer
    identities: list[Identity]
    tags: list[Tag]
    consents: list[Consent]
    order_count: int
    touch_count: int


def merge_preview(actor: Actor, a_id: int, b_id: int) -> tuple[MergeSide, MergeSide]:
    """Both records side by side, for a person to decide."""
    authorize(actor, "customers.merge")
    from siyu.orders.queries import orders_for_customer

    if a_id == b_id:
        raise ValidationFailed(_("Pick two different customers."), fields={"b": str(b_id)})
    sides = []
    for cid in (a_id, b_id):
        customer = get_customer(actor, cid)
        _require_active(customer)
        sides.append(
            MergeSide(
                customer=customer,
                identities=list(customer.identities.order_by("kind", "pk")),
                tags=[ct.tag for ct in customer.customer_tags.select_related("tag__group")],
                consents=list(customer.consents.order_by("channel")),
                order_count=orders_for_customer(cid, limit=1000).count(),
                touch_count=customer.touches.count(),
            )
        )
    return sides[0], sides[1]


def merge_customers(
    survivor_id: int,
    merged_id: int,
    *,
    actor: Actor,
    reason: str = "",
    suggestion_id: int | None = None,
) -> MergeRecord:
    """Merge `merged` into `survivor`: identities, touches, tags, consents (an opt-out wins),
    owner history and referrals move; the merged record stays as a tombstone pointing at the
    survivor, with a MergeRecord holding what it was. Orders and other apps' data follow through
    the CustomersMerged event, in this same transaction."""
    authorize(actor, "customers.merge")
    if survivor_id == merged_id:
        raise ValidationFailed(
            _("A customer cannot be merged into itself."), fields={"merged_id": str(merged_id)}
        )
    now = timezone.now()
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in visible_customers(actor, include_inactive=True)
            .select_for_update()
            .filter(pk__in=[survivor_id, merged_id])
            .order_by("pk")
        }
        if survivor_id not in locked or merged_id not in locked:
            raise NotFound(_("No such customer, or not one of yours."))
        survivor, merged = locked[survivor_id], locked[merged_id]
        _require_active(survivor)
        _require_active(merged)

        snapshot = _snapshot(merged)
        moved = {
            "identities": Identity.objects.filter(customer=merged).update(customer=survivor),
            "touches": _move_touches(merged, survivor),
            "tags": _move_tags(merged, survivor),
            "consents": _move_consents(merged, survivor, by=actor.label, now=now),
            "ownerships": _move_ownerships(merged, survivor, now=now),
        }
        Customer.objects.filter(referred_by=merged).exclude(pk=survivor.pk).update(
            referred_by=survivor
        )
        Customer.objects.filter(merged_into=merged).update(merged_into=survivor)
        _fill_from_merged(survivor, merged)
        survivor.save()
        merged.merged_into = survivor
        if merged.referred_by_id == survivor.pk:
            merged.referred_by = None
        merged.save(update_fields=["merged_into", "referred_by", "updated_at"])
        _move_suggestions(merged, survivor, by=actor.label, now=now)
        if suggestion_id:
            MergeSuggestion.objects.filter(pk=suggestion_id).update(
                status=MergeSuggestion.Status.MERGED, decided_at=now, decided_by=actor.label
            )
        snapshot["moved"] = moved
        record = MergeRecord.objects.create(
            survivor=survivor,
            merged=merged,
            reason=reason.strip()[:200],
            snapshot=snapshot,
            merged_at=now,
            merged_by=actor.label,
        )
        _refresh_in_pool([survivor.pk, merged.pk])
        audit.record(
            actor,
            "customers.merged",
            obj=survivor,
            summary=f"#{merged.pk} → #{survivor.pk}",
            data={"merged_id": merged.pk, "reason": record.reason, "moved": moved},
        )
        events.publish(CustomersMerged(survivor_id=survivor.pk, merged_id=merged.pk))
    return record


def _snapshot(customer: Customer) -> dict:
    """What the merged record was, without personal data in clear (masked phone and identities)."""
    return {
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "phone": crypto.mask_phone(customer.phone),
            "gender": customer.gender,
            "birthday": customer.birthday.isoformat() if customer.birthday else None,
            "province": customer.province,
            "city": customer.city,
            "source": customer.source,
            "source_detail": customer.source_detail,
            "first_seen_at": customer.first_seen_at.isoformat(),
            "created_at": customer.created_at.isoformat(),
            "owner_kind": customer.owner_kind,
            "owner_id": customer.owner_id,
            "store_id": customer.store_id,
            "in_pool": customer.in_pool,
            "opted_out_at": customer.opted_out_at.isoformat() if customer.opted_out_at else None,
        },
        "identities": [
            {
                "id": i.pk,
                "kind": i.kind,
                "value": crypto.mask_phone(i.value)
                if i.kind == IdentityKind.PHONE
                else crypto.mask_text(i.value, keep=3),
            }
            for i in customer.identities.order_by("pk")
        ],
        "tags": [
            f"{ct.tag.group.name}:{ct.tag.name}"
            for ct in customer.customer_tags.select_related("tag__group")
        ],
        "consents": [
            {"channel": c.channel, "granted": c.granted, "source": c.source}
            for c in customer.consents.order_by("channel")
        ],
    }


def _move_touches(merged: Customer, survivor: Customer) -> int:
    # the same business event seen on both records stays once
    Touch.objects.filter(customer=merged).exclude(ref="").filter(
        Exists(
            Touch.objects.filter(customer=survivor, source=OuterRef("source"), ref=OuterRef("ref"))
        )
    ).delete()
    return Touch.objects.filter(customer=merged).update(customer=survivor)


def _move_tags(merged: Customer, survivor: Customer) -> int:
    held = CustomerTag.objects.filter(customer=survivor)
    CustomerTag.objects.filter(customer=merged, tag_id__in=held.values("tag_id")).delete()
    # in an exclusive group (skin type) the survivor's choice stands
    CustomerTag.objects.filter(
        customer=merged,
        tag__group__exclusive=True,
        tag__group_id__in=held.values("tag__group_id"),
    ).delete()
    return CustomerTag.objects.filter(customer=merged).update(customer=survivor)


def _move_consents(merged: Customer, survivor: Customer, *, by: str, now: datetime) -> int:
    kept = {c.channel: c for c in Consent.objects.filter(customer=survivor)}
    moved = 0
    for consent in Consent.objects.filter(customer=merged):
        mine = kept.get(consent.channel)
        if mine is None:
            consent.customer = survivor
            consent.save(update_fields=["customer"])
            moved += 1
            continue
        if mine.granted and not consent.granted:
            # an opt-out on either record wins: being asked twice not to be contacted is one "no"
            mine.granted = False
            mine.source = consent.source
            mine.updated_at = now
            mine.save(update_fields=["granted", "source", "updated_at"])
            ConsentEvent.objects.create(
                customer=survivor,
                channel=consent.channel,
                granted=False,
                source=f"merge #{merged.pk}",
                occurred_at=now,
                recorded_by=by,
            )
        consent.delete()
    ConsentEvent.objects.filter(customer=merged).update(customer=survivor)
    if merged.opted_out_at and (
        survivor.opted_out_at is None or merged.opted_out_at < survivor.opted_out_at
    ):
        survivor.opted_out_at = merged.opted_out_at
    return moved


def _move_ownerships(merged: Customer, survivor: Customer, *, now: datetime) -> int:
    merged_open = Ownership.objects.filter(customer=merged, ended_at__isnull=True).first()
    if merged_open is not None:
        if survivor.owner_kind:
            merged_open.ended_at = now
            merged_open.reason = f"merged into #{survivor.pk}"[:200]
            merged_open.save(update_fields=["ended_at", "reason"])
        else:
            # the survivor had nobody serving them: the merged record's owner carries on
            survivor.owner_kind = merged_open.owner_kind
            survivor.owner_id = merged_open.owner_id
            survivor.owner_user_id = merged_open.owner_user_id
            if merged_open.store_id:
                survivor.store_id = merged_open.store_id
    return Ownership.objects.filter(customer=merged).update(customer=survivor)


def _fill_from_merged(survivor: Customer, merged: Customer) -> None:
    for attr in ("name", "gender", "birthday", "province", "city", "store_id", "referred_by_id"):
        if not getattr(survivor, attr) and getattr(merged, attr):
            setattr(survivor, attr, getattr(merged, attr))
    if survivor.referred_by_id == survivor.pk:
        survivor.referred_by_id = None
    if not survivor.phone and merged.phone:
        for attr, value in phone_columns(merged.phone).items():
            setattr(survivor, attr, value)
    if merged.first_seen_at < survivor.first_seen_at:
        survivor.first_seen_at = merged.first_seen_at
        survivor.source = merged.source
        survivor.source_detail = merged.source_detail


def _move_suggestions(merged: Customer, survivor: Customer, *, by: str, now: datetime) -> None:
    for suggestion in MergeSuggestion.objects.filter(
        Q(customer_a=merged) | Q(customer_b=merged)
    ).select_for_update():
        other = (
            suggestion.customer_b_id
            if suggestion.customer_a_id == merged.pk
            else suggestion.customer_a_id
        )
        if other == survivor.pk:
            suggestion.status = MergeSuggestion.Status.MERGED
            suggestion.decided_at = now
            suggestion.decided_by = by
            suggestion.save(update_fields=["status", "decided_at", "decided_by"])
        elif suggestion.status == MergeSuggestion.Status.OPEN:
            # the question "is X the same person?" now concerns the survivor
            _suggest(survivor.pk, other, reason=suggestion.reason)
            suggestion.delete()


def dismiss_suggestion(suggestion_id: int, *, actor: Actor) -> MergeSuggestion:
    """Two records are different people after all; the pair is not suggested again."""
    authorize(actor, "customers.merge")
    with transaction.atomic():
        suggestion = MergeSuggestion.objects.select_for_update().filter(pk=suggestion_id).first()
        if suggestion is None:
            raise NotFound()
        if suggestion.status != MergeSuggestion.Status.OPEN:
            raise Conflict(_("This suggestion was already decided."), code="already_decided")
        suggestion.status = MergeSuggestion.Status.DISMISSED
        suggestion.decided_at = timezone.now()
        suggestion.decided_by = actor.label
        suggestion.save(update_fields=["status", "decided_at", "decided_by"])
        audit.record(
            actor,
            "customers.merge_dismissed",
            obj=suggestion,
            summary=f"#{suggestion.customer_a_id} ≠ #{suggestion.customer_b_id}",
        )
    return suggestion


def open_suggestions(actor: Actor) -> QuerySet[MergeSuggestion]:
    authorize(actor, "customers.merge")
    return MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN).select_related(
        "customer_a", "customer_b"
    )


def merge_history(actor: Actor) -> QuerySet[MergeRecord]:
    authorize(actor, "customers.merge")
    return MergeRecord.objects.select_related("survivor", "merged")


# --- owners ----------------------------------------------------------------------------------------


def _clerk(user_id: int, actor: Actor):
    from siyu.staff.models import User

    clerk = User.objects.filter(pk=user_id, role=Role.CLERK, is_active=True).first()
    if clerk is None:
        raise ValidationFailed(
            _("Pick an active store clerk."), fields={"owner_id": _("Not an active clerk.")}
        )
    if (
        actor.kind == "staff"
        and actor.role == Role.STORE_MANAGER
        and clerk.store_id != (actor.store_id)
    ):
        raise ValidationFailed(
            _("Pick a clerk of your own store."), fields={"owner_id": _("Another store's clerk.")}
        )
    return clerk


def _set_owner(
    customer: Customer,
    kind: str,
    owner_id: int,
    *,
    user=None,
    label: str = "",
    store_id: int | None = None,
    reason: str = "",
    by: str = "",
    now: datetime,
) -> Ownership:
    old_kind, old_id = customer.owner_kind, customer.owner_id
    Ownership.objects.filter(customer=customer, ended_at__isnull=True).update(ended_at=now)
    ownership = Ownership.objects.create(
        customer=customer,
        owner_kind=kind,
        owner_id=owner_id,
        owner_user=user,
        owner_label=label[:100],
        store_id=store_id,
        started_at=now,
        reason=reason[:200],
        assigned_by=by[:150],
    )
    customer.owner_kind = kind
    customer.owner_id = owner_id
    customer.owner_user = user
    if store_id:
        customer.store_id = store_id
    customer.save(update_fields=["owner_kind", "owner_id", "owner_user", "store", "updated_at"])
    events.publish(OwnerChanged(customer.pk, old_kind, old_id, kind, owner_id))
    return ownership


def assign_owner(
    customer_id: int,
    *,
    actor: Actor,
    owner_id: int,
    owner_kind: str = OwnerKind.CLERK,
    owner_label: str = "",
    reason: str = "",
) -> Ownership:
    """Give the customer to a clerk, a community leader or a distributor. The previous ownership
    ends now; the history keeps who served them when (sales attribution depends on it)."""
    if owner_kind not in OwnerKind.values:
        raise ValidationFailed(_("Unknown owner kind."), fields={"owner_kind": owner_kind})
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.reassign")
        _require_active(customer)
        if owner_kind == OwnerKind.CLERK:
            clerk = _clerk(owner_id, actor)
            user, label, store_id = clerk, clerk.name, clerk.store_id
        else:
            if not owner_label.strip():
                raise ValidationFailed(
                    _("Name the leader or distributor."), fields={"owner_label": _("Required.")}
                )
            user, label, store_id = None, owner_label.strip(), None
        current = Ownership.objects.filter(customer=customer, ended_at__isnull=True).first()
        if current and current.owner_kind == owner_kind and current.owner_id == owner_id:
            return current
        ownership = _set_owner(
            customer,
            owner_kind,
            owner_id,
            user=user,
            label=label,
            store_id=store_id,
            reason=reason.strip(),
            by=actor.label,
            now=timezone.now(),
        )
        audit.record(
            actor,
            "customers.owner_assigned",
            obj=customer,
            summary=f"{owner_kind}:{owner_id}",
            data={"reason": reason.strip()},
        )
    return ownership


def hand_over_customers(
    from_user_id: int, to_user_id: int, *, actor: Actor, reason: str = ""
) -> int:
    """Move every customer of one clerk to another (a clerk left): one statement each to end the
    open ownerships, insert the new ones and update the customers, whatever the number."""
    from siyu.staff.models import User

    authorize(actor, "customers.reassign")
    if from_user_id == to_user_id:
        raise ValidationFailed(
            _("Pick two different clerks."), fields={"to_user": _("Same as the leaving clerk.")}
        )
    leaving = User.objects.filter(pk=from_user_id, role=Role.CLERK).first()
    if leaving is None:
        raise ValidationFailed(
            _("Pick the clerk who is leaving."), fields={"from_user": _("Not a clerk.")}
        )
    if (
        actor.kind == "staff"
        and actor.role == Role.STORE_MANAGER
        and (leaving.store_id != actor.store_id)
    ):
        raise ValidationFailed(
            _("Pick a clerk of your own store."), fields={"from_user": _("Another store's clerk.")}
        )
    taking = _clerk(to_user_id, actor)
    now = timezone.now()
    reason = reason.strip() or _("hand-over from %(name)s") % {"name": leaving.name}
    with transaction.atomic():
        ids = (
            Customer.objects.select_for_update()
            .filter(owner_user_id=leaving.pk, merged_into__isnull=True, erased_at__isnull=True)
            .values("pk")
        )
        list(ids)  # take the locks before anything changes
        Ownership.objects.filter(ended_at__isnull=True, customer_id__in=ids).update(ended_at=now)
        c, o = Customer._meta.db_table, Ownership._meta.db_table
        ops = connection.ops
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {o} (customer_id, owner_kind, owner_id, owner_user_id, owner_label,"
                " store_id, started_at, ended_at, reason, assigned_by)"
                f" SELECT id, %s, %s, %s, %s, %s, %s, NULL, %s, %s FROM {c}"
                " WHERE owner_user_id = %s AND merged_into_id IS NULL AND erased_at IS NULL",
                [
                    OwnerKind.CLERK.value,
                    taking.pk,
                    taking.pk,
                    taking.name[:100],
                    taking.store_id,
                    ops.adapt_datetimefield_value(now),
                    reason[:200],
                    actor.label[:150],
                    leaving.pk,
                ],
            )
            count = cursor.rowcount
        Customer.objects.filter(
            owner_user_id=leaving.pk, merged_into__isnull=True, erased_at__isnull=True
        ).update(
            owner_kind=OwnerKind.CLERK,
            owner_id=taking.pk,
            owner_user_id=taking.pk,
            store_id=taking.store_id,
            updated_at=now,
        )
        audit.record(
            actor,
            "customers.handed_over",
            obj=leaving,
            summary=f"{count} → {taking.get_username()}",
            data={"from_user": leaving.pk, "to_user": taking.pk, "count": count, "reason": reason},
        )
        events.publish(CustomersHandedOver(leaving.pk, taking.pk, count))
    return count


# --- tags ------------------------------------------------------------------------------------------


def tags_in_use(actor: Actor) -> QuerySet[Tag]:
    authorize(actor, "customers.view")
    return Tag.objects.select_related("group")


def create_tag_group(
    *, actor: Actor, name: str, exclusive: bool = False, sort: int = 0
) -> TagGroup:
    authorize(actor, "customers.manage_tags")
    name = name.strip()
    if not name:
        raise ValidationFailed(_("Give the group a name."), fields={"name": _("Required.")})
    if TagGroup.objects.filter(name=name).exists():
        raise ValidationFailed(_("That group exists already."), fields={"name": name})
    with transaction.atomic():
        group = TagGroup.objects.create(name=name[:50], exclusive=exclusive, sort=sort)
        audit.record(actor, "customers.tag_group_created", obj=group, summary=group.name)
    return group


def update_tag_group(
    group_id: int, *, actor: Actor, name: str, exclusive: bool, sort: int = 0
) -> TagGroup:
    authorize(actor, "customers.manage_tags")
    with transaction.atomic():
        group = TagGroup.objects.select_for_update().filter(pk=group_id).first()
        if group is None:
            raise NotFound()
        name = name.strip()
        if not name:
            raise ValidationFailed(_("Give the group a name."), fields={"name": _("Required.")})
        if TagGroup.objects.filter(name=name).exclude(pk=group.pk).exists():
            raise ValidationFailed(_("That group exists already."), fields={"name": name})
        if exclusive and not group.exclusive:
            several = (
                CustomerTag.objects.filter(tag__group=group)
                .values("customer_id")
                .annotate(n=Count("pk"))
                .filter(n__gt=1)
            )
            if several.exists():
                raise Conflict(
                    _(
                        "Some customers hold several tags of this group; remove the extra tags "
                        "before making it one-tag-per-customer."
                    ),
                    code="group_not_exclusive",
                )
        group.name, group.exclusive, group.sort = name[:50], exclusive, sort
        group.save()
    return group


def create_tag(
    *,
    actor: Actor,
    group_id: int,
    name: str,
    color: str = "",
    rule: dict | None = None,
    sort: int = 0,
) -> Tag:
    from .rules import validate_rule

    authorize(actor, "customers.manage_tags")
    group = TagGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise ValidationFailed(_("Pick a tag group."), fields={"group": _("Required.")})
    name = name.strip()
    if not name:
        raise ValidationFailed(_("Give the tag a name."), fields={"name": _("Required.")})
    if Tag.objects.filter(group=group, name=name).exists():
        raise ValidationFailed(_("That tag exists in this group."), fields={"name": name})
    if color and not re.match(r"^#[0-9a-fA-F]{6}$", color):
        raise ValidationFailed(_("Use a colour like #1677ff."), fields={"color": color})
    if rule:
        validate_rule(rule)
    with transaction.atomic():
        tag = Tag.objects.create(
            group=group, name=name[:50], color=color, rule=rule or None, sort=sort
        )
        audit.record(actor, "customers.tag_created", obj=tag, summary=str(tag))
    return tag


def update_tag_rule(tag_id: int, *, actor: Actor, rule: dict | None) -> Tag:
    from .rules import validate_rule

    authorize(actor, "customers.manage_tags")
    if rule:
        validate_rule(rule)
    with transaction.atomic():
        tag = Tag.objects.select_for_update().filter(pk=tag_id).first()
        if tag is None:
            raise NotFound()
        tag.rule = rule or None
        tag.save(update_fields=["rule"])
        if not rule:
            # a tag that stops being a rule tag keeps what the rule gave as plain tags
            CustomerTag.objects.filter(tag=tag, by_rule=True).update(by_rule=False)
        audit.record(actor, "customers.tag_rule_changed", obj=tag, data={"rule": rule})
    return tag


def delete_tag(tag_id: int, *, actor: Actor) -> int:
    """Delete a tag and take it off every customer (one statement)."""
    authorize(actor, "customers.manage_tags")
    with transaction.atomic():
        tag = Tag.objects.select_for_update().filter(pk=tag_id).first()
        if tag is None:
            raise NotFound()
        count, _detail = CustomerTag.objects.filter(tag=tag).delete()
        label = str(tag)
        tag.delete()
        audit.record(
            actor,
            "customers.tag_deleted",
            object_type="customers.tag",
            object_id=tag_id,
            summary=label,
            data={"removed_from": count},
        )
    return count


def _tag_for_manual_use(tag_id: int) -> Tag:
    tag = Tag.objects.select_related("group").filter(pk=tag_id).first()
    if tag is None:
        raise ValidationFailed(_("No such tag."), fields={"tag_id": str(tag_id)})
    if tag.rule:
        raise ValidationFailed(
            _("“%(tag)s” is set by a rule; change the rule instead.") % {"tag": tag.name},
            fields={"tag_id": _("Set by a rule.")},
        )
    return tag


def add_tag(customer_id: int, tag_id: int, *, actor: Actor) -> bool:
    """Tag one customer; in an exclusive group the tag replaces the customer's other one.
    Returns False when the customer already had it."""
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.tag")
        _require_active(customer)
        tag = _tag_for_manual_use(tag_id)
        if tag.group.exclusive:
            CustomerTag.objects.filter(customer=customer, tag__group=tag.group).exclude(
                tag=tag
            ).delete()
        _obj, created = CustomerTag.objects.get_or_create(
            customer=customer, tag=tag, defaults={"created_by": actor.label[:150]}
        )
        if created:
            events.publish(CustomersTagged(tag.pk, 1))
    return created


def remove_tag(customer_id: int, tag_id: int, *, actor: Actor) -> bool:
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.tag")
        _require_active(customer)
        tag = _tag_for_manual_use(tag_id)
        count, _detail = CustomerTag.objects.filter(customer=customer, tag=tag).delete()
        if count:
            events.publish(CustomersTagged(tag.pk, count, removed=True))
    return bool(count)


def _insert_tags(ids_sql: str, ids_params: list, tag: Tag, *, by_rule: bool, by: str) -> int:
    """INSERT ... SELECT: tag every customer id the subquery yields that lacks the tag."""
    table = CustomerTag._meta.db_table
    ops = connection.ops
    sql = (
        f"INSERT INTO {table} (customer_id, tag_id, by_rule, created_at, created_by)"
        f" SELECT src.id, %s, %s, %s, %s FROM ({ids_sql}) src"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} ct"
        " WHERE ct.customer_id = src.id AND ct.tag_id = %s)"
    )
    params = [
        tag.pk,
        by_rule,
        ops.adapt_datetimefield_value(timezone.now()),
        by[:150],
        *ids_params,
        tag.pk,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def bulk_tag(actor: Actor, filters: CustomerFilters, tag_id: int) -> int:
    """Tag every customer of a filtered list in one statement; running it twice adds nothing.
    Returns how many customers gained the tag."""
    authorize(actor, "customers.tag")
    tag = _tag_for_manual_use(tag_id)
    qs = search_customers(actor, filters).order_by().values("id")
    with transaction.atomic():
        if tag.group.exclusive:
            CustomerTag.objects.filter(tag__group=tag.group, customer_id__in=qs).exclude(
                tag=tag
            ).delete()
        sql, params = qs.query.sql_with_params()
        count = _insert_tags(sql, list(params), tag, by_rule=False, by=actor.label)
        audit.record(
            actor,
            "customers.bulk_tagged",
            obj=tag,
            summary=f"{tag} +{count}",
            data={"filters": _jsonable(filters.as_params()), "count": count},
        )
        if count:
            events.publish(CustomersTagged(tag.pk, count))
    return count


def bulk_untag(actor: Actor, filters: CustomerFilters, tag_id: int) -> int:
    authorize(actor, "customers.tag")
    tag = _tag_for_manual_use(tag_id)
    qs = search_customers(actor, filters).order_by().values("id")
    with transaction.atomic():
        count, _detail = CustomerTag.objects.filter(tag=tag, customer_id__in=qs).delete()
        audit.record(
            actor,
            "customers.bulk_untagged",
            obj=tag,
            summary=f"{tag} -{count}",
            data={"filters": _jsonable(filters.as_params()), "count": count},
        )
        if count:
            events.publish(CustomersTagged(tag.pk, count, removed=True))
    return count


def _jsonable(params: dict) -> dict:
    return {k: v if isinstance(v, list | int | str) else str(v) for k, v in params.items()}


def refresh_rule_tags(tag_ids: Iterable[int] | None = None) -> dict[int, tuple[int, int]]:
    """Re-evaluate rule tags set-based: per tag one DELETE of customers who no longer match and one
    INSERT ... SELECT of those who newly do. In an exclusive group the first matching rule (by tag
    order) wins and a manual tag in the group keeps the rules off that customer.
    Returns {tag_id: (added, removed)}."""
    from .rules import rule_filter

    tags = (
        Tag.objects.filter(rule__isnull=False)
        .select_related("group")
        .order_by("group_id", "sort", "name")
    )
    if tag_ids is not None:
        wanted = set(tag_ids)
        groups = set(Tag.objects.filter(pk__in=wanted).values_list("group_id", flat=True))
        # exclusive groups are evaluated whole: an earlier rule decides what later ones get
        tags = [t for t in tags if t.pk in wanted or (t.group.exclusive and t.group_id in groups)]
    result: dict[int, tuple[int, int]] = {}
    active = Customer.objects.filter(merged_into__isnull=True, erased_at__isnull=True)
    earlier: dict[int, Q] = {}
    with transaction.atomic():
        for tag in tags:
            matching = active.filter(rule_filter(tag.rule))
            if tag.group.exclusive:
                manual = CustomerTag.objects.filter(tag__group=tag.group, by_rule=False)
                matching = matching.exclude(pk__in=manual.values("customer_id"))
                if tag.group_id in earlier:
                    matching = matching.exclude(earlier[tag.group_id])
                earlier[tag.group_id] = earlier.get(tag.group_id, Q(pk__in=[])) | rule_filter(
                    tag.rule
                )
            ids = matching.order_by().values("id")
            removed, _detail = (
                CustomerTag.objects.filter(tag=tag, by_rule=True)
                .exclude(customer_id__in=ids)
                .delete()
            )
            sql, params = ids.query.sql_with_params()
            added = _insert_tags(sql, list(params), tag, by_rule=True, by="rule")
            result[tag.pk] = (added, removed)
            if added:
                events.publish(CustomersTagged(tag.pk, added))
            if removed:
                events.publish(CustomersTagged(tag.pk, removed, removed=True))
    return result


# --- consent ---------------------------------------------------------------------------------------


def _record_consent(
    customer: Customer,
    channel: str,
    granted: bool,
    *,
    source: str,
    recorded_by: str,
    at: datetime,
) -> bool:
    """Write the current state and the history row; False when nothing changed."""
    consent = Consent.objects.select_for_update().filter(customer=customer, channel=channel).first()
    if consent is not None and consent.granted == granted:
        return False
    if consent is None:
        Consent.objects.create(
            customer=customer, channel=channel, granted=granted, source=source[:100], updated_at=at
        )
    else:
        consent.granted, consent.source, consent.updated_at = granted, source[:100], at
        consent.save(update_fields=["granted", "source", "updated_at"])
    ConsentEvent.objects.create(
        customer=customer,
        channel=channel,
        granted=granted,
        source=source[:100],
        occurred_at=at,
        recorded_by=recorded_by[:150],
    )
    events.publish(ConsentChanged(customer.pk, channel, granted))
    return True


def set_consent(
    customer_id: int,
    channel: str,
    granted: bool,
    *,
    actor: Actor,
    source: str,
    occurred_at: datetime | None = None,
) -> bool:
    """Record that the customer said yes or no to marketing on one channel, where and when.

    A yes while the customer is opted out of everything is refused: the global opt-out has to be
    withdrawn first, by the customer's own request."""
    if channel not in ConsentChannel.values:
        raise ValidationFailed(_("Unknown channel."), fields={"channel": channel})
    if not source.strip():
        raise ValidationFailed(
            _("Say where the customer gave this answer."), fields={"source": _("Required.")}
        )
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.edit")
        _require_active(customer)
        if granted and customer.opted_out_at:
            raise Conflict(
                _("The customer opted out of all marketing; withdraw that first."),
                code="opted_out",
                fields={"granted": _("Customer opted out of all marketing.")},
            )
        changed = _record_consent(
            customer,
            channel,
            granted,
            source=source.strip(),
            recorded_by=actor.label,
            at=occurred_at or timezone.now(),
        )
        _refresh_in_pool([customer.pk])
    return changed


def opt_out_everywhere(customer_id: int, *, actor: Actor, source: str) -> None:
    """The customer wants no marketing at all: every channel is revoked and nothing may reach them
    until they say otherwise."""
    if not source.strip():
        raise ValidationFailed(
            _("Say where the customer asked for this."), fields={"source": _("Required.")}
        )
    now = timezone.now()
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.edit")
        _require_active(customer)
        if customer.opted_out_at:
            return
        for channel in Consent.objects.filter(customer=customer, granted=True).values_list(
            "channel", flat=True
        ):
            _record_consent(
                customer, channel, False, source=source, recorded_by=actor.label, at=now
            )
        customer.opted_out_at = now
        customer.save(update_fields=["opted_out_at", "updated_at"])
        ConsentEvent.objects.create(
            customer=customer,
            channel="all",
            granted=False,
            source=source.strip()[:100],
            occurred_at=now,
            recorded_by=actor.label[:150],
        )
        _refresh_in_pool([customer.pk])
        events.publish(ConsentChanged(customer.pk, "all", False))


def withdraw_opt_out(customer_id: int, *, actor: Actor, source: str) -> None:
    """The customer asked to hear from the brand again. Channels stay revoked until each is
    granted anew."""
    if not source.strip():
        raise ValidationFailed(
            _("Say where the customer asked for this."), fields={"source": _("Required.")}
        )
    now = timezone.now()
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.edit")
        _require_active(customer)
        if not customer.opted_out_at:
            return
        customer.opted_out_at = None
        customer.save(update_fields=["opted_out_at", "updated_at"])
        ConsentEvent.objects.create(
            customer=customer,
            channel="all",
            granted=True,
            source=source.strip()[:100],
            occurred_at=now,
            recorded_by=actor.label[:150],
        )
        events.publish(ConsentChanged(customer.pk, "all", True))


def _refresh_in_pool(customer_ids: list[int] | None) -> None:
    """in_pool: reachable at all — a WeCom contact or a granted channel, and not opted out.
    `None` refreshes every customer (two set-based updates)."""
    reachable = Q(opted_out_at__isnull=True, merged_into__isnull=True, erased_at__isnull=True) & (
        Q(pk__in=Consent.objects.filter(granted=True).values("customer_id"))
        | Q(pk__in=Identity.objects.filter(kind=IdentityKind.WECOM).values("customer_id"))
    )
    base = (
        Customer.objects.all()
        if customer_ids is None
        else Customer.objects.filter(pk__in=customer_ids)
    )
    base.filter(reachable).exclude(in_pool=True).update(in_pool=True)
    base.exclude(reachable).exclude(in_pool=False).update(in_pool=False)


# --- personal-data requests (PIPL) -----------------------------------------------------------------


def export_personal_data(customer_id: int, *, actor: Actor) -> dict:
    """Everything siyu keeps about one person, decrypted, as a JSON-ready dict (a PIPL access
    request). Audited."""
    from siyu.orders.queries import orders_for_customer

    authorize(actor, "customers.export")
    customer = get_customer(actor, customer_id)
    if customer.merged_into_id:
        raise Conflict(
            _("Customer #%(id)s was merged into #%(into)s; export that record.")
            % {"id": customer.pk, "into": customer.merged_into_id},
            code="customer_merged",
        )
    ids = [customer.pk, *customer.merged_from.values_list("pk", flat=True)]

    def when(value):
        return timezone.localtime(value).isoformat() if value else None

    orders = []
    for order in orders_for_customer(customer.pk, limit=100_000):
        orders.append(
            {
                "number": order.number,
                "channel": order.channel,
                "platform": order.platform,
                "platform_order_id": order.external_id,
                "status": order.status,
                "payable_fen": order.payable_fen,
                "paid_fen": order.paid_fen,
                "refunded_fen": order.refunded_fen,
                "placed_at": when(order.placed_at),
                "paid_at": when(order.paid_at),
                "receiver_name": order.receiver_name,
                "receiver_phone": order.receiver_phone,
                "receiver_address": order.receiver_address,
                "receiver_province": order.receiver_province,
                "receiver_city": order.receiver_city,
                "lines": [
                    {
                        "product": line.product_title,
                        "spec": line.spec_text,
                        "quantity": line.quantity,
                        "amount_fen": line.amount_fen,
                    }
                    for line in order.lines.all()
                ],
            }
        )
    data = {
        "exported_at": when(timezone.now()),
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "phone": customer.phone,
            "gender": customer.gender,
            "birthday": customer.birthday.isoformat() if customer.birthday else None,
            "province": customer.province,
            "city": customer.city,
            "first_source": customer.source,
            "source_detail": customer.source_detail,
            "first_seen_at": when(customer.first_seen_at),
            "opted_out_at": when(customer.opted_out_at),
            "erased_at": when(customer.erased_at),
            "merged_records": ids[1:],
        },
        "identities": [
            {"kind": i.kind, "value": i.value, "source": i.source, "since": when(i.created_at)}
            for i in Identity.objects.filter(customer_id__in=ids).order_by("kind", "pk")
        ],
        "touches": [
            {"source": t.source, "detail": t.detail, "at": when(t.occurred_at)}
            for t in Touch.objects.filter(customer_id__in=ids).order_by("occurred_at", "pk")
        ],
        "tags": [
            {"group": ct.tag.group.name, "tag": ct.tag.name, "by_rule": ct.by_rule}
            for ct in CustomerTag.objects.filter(customer_id__in=ids).select_related("tag__group")
        ],
        "consents": [
            {
                "channel": c.channel,
                "granted": c.granted,
                "source": c.source,
                "at": when(c.updated_at),
            }
            for c in Consent.objects.filter(customer_id__in=ids).order_by("channel")
        ],
        "consent_history": [
            {
                "channel": e.channel,
                "granted": e.granted,
                "source": e.source,
                "at": when(e.occurred_at),
            }
            for e in ConsentEvent.objects.filter(customer_id__in=ids).order_by("occurred_at", "pk")
        ],
        "owners": [
            {
                "kind": o.owner_kind,
                "name": o.owner_label,
                "from": when(o.started_at),
                "until": when(o.ended_at),
            }
            for o in Ownership.objects.filter(customer_id__in=ids).order_by("started_at", "pk")
        ],
        "orders": orders,
    }
    from .personal_data import collect

    for name, section in collect(ids).items():
        data.setdefault(name, section)
    audit.record(
        actor,
        "customers.pii_exported",
        obj=customer,
        summary=f"#{customer.pk}",
        data={"orders": len(orders), "identities": len(data["identities"])},
    )
    return data


def erase_customer(customer_id: int, *, actor: Actor, reason: str) -> Customer:
    """Carry out a PIPL erasure request, irreversibly: the customer (and any record merged into it)
    is anonymised, identities are deleted, tags and consents dropped, touch details blanked. Orders
    keep their amounts; subscribers to CustomerErased blank their personal data (the receiver on
    orders) in this same transaction. Audited."""
    if not reason.strip():
        raise ValidationFailed(
            _("Record the request this erasure answers."), fields={"reason": _("Required.")}
        )
    now = timezone.now()
    with transaction.atomic():
        customer = _lock(actor, customer_id, "customers.erase")
        if customer.merged_into_id:
            raise Conflict(
                _("Customer #%(id)s was merged into #%(into)s; erase that record.")
                % {"id": customer.pk, "into": customer.merged_into_id},
                code="customer_merged",
            )
        if customer.erased_at:
            raise Conflict(_("This customer was already erased."), code="customer_erased")
        ids = [customer.pk, *customer.merged_from.select_for_update().values_list("pk", flat=True)]
        Customer.objects.filter(pk__in=ids).update(
            name="",
            phone="",
            phone_hash="",
            phone_last4="",
            gender="",
            birthday=None,
            province="",
            city="",
            source_detail="",
            referred_by=None,
            in_pool=False,
            opted_out_at=now,
            erased_at=now,
            updated_at=now,
        )
        removed = {
            "identities": Identity.objects.filter(customer_id__in=ids).delete()[0],
            "tags": CustomerTag.objects.filter(customer_id__in=ids).delete()[0],
            "consents": Consent.objects.filter(customer_id__in=ids).delete()[0],
        }
        Touch.objects.filter(customer_id__in=ids).update(detail="")
        ConsentEvent.objects.filter(customer_id__in=ids).update(source="", recorded_by="")
        MergeRecord.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids)).update(
            snapshot={"erased": True}
        )
        MergeSuggestion.objects.filter(Q(customer_a_id__in=ids) | Q(customer_b_id__in=ids)).delete()
        audit.record(
            actor,
            "customers.erased",
            obj=customer,
            summary=f"#{customer.pk}",
            data={"reason": reason.strip(), "records": ids, "removed": removed},
        )
        for cid in ids:
            events.publish(CustomerErased(cid))
        customer.refresh_from_db()
    return customer


# --- figures for the console overview ---------------------------------------------------------------


def pool_figures(actor: Actor, *, top_sources: int = 4) -> dict:
    """Customers in the actor's scope: total, first seen this week (from Monday, Asia/Shanghai)
    and the biggest sources."""
    qs = visible_customers(actor)
    today = timezone.localdate()
    week_start = _local_day_start(today - timedelta(days=today.weekday()))
    by_source = list(
        qs.order_by().values("source").annotate(n=Count("pk")).order_by("-n", "source")
    )
    return {
        "total": sum(row["n"] for row in by_source),
        "new_this_week": qs.filter(first_seen_at__gte=week_start).count(),
        "by_source": by_source[:top_sources],
    }


# --- list export (CSV) ------------------------------------------------------------------------------


def export_list(actor: Actor, filters: CustomerFilters, *, chunk: int = 2000):
    """Rows for a CSV of a filtered list, streamed newest first a chunk at a time.

    What a role gets: phones only with customers.export; names only with customers.view_pii
    (analysts get neither — no personal data leaves through them). Audited, with the filters."""
    qs = search_customers(actor, filters)
    with_phone = actor.can("customers.export")
    with_name = shows_pii(actor)
    header = [_("Customer number")]
    if with_name:
        header.append(_("Name"))
    if with_phone:
        header.append(_("Mobile phone"))
    header += [
        _("First source"),
        _("First seen"),
        _("Province"),
        _("City"),
        _("Owner"),
        _("Store"),
        _("Tags"),
        _("Reachable"),
        _("Opted out"),
    ]
    audit.record(
        actor,
        "customers.list_exported",
        object_type="customers.customer",
        summary=_("phones") if with_phone else _("masked"),
        data={"filters": _jsonable(filters.as_params()), "phones": with_phone, "names": with_name},
    )
    sources = dict(Source.choices)

    def rows():
        yield header
        last = None
        while True:
            page = qs.order_by("-pk")
            if last is not None:
                page = page.filter(pk__lt=last)
            batch = list(with_list_columns(page)[:chunk])
            if not batch:
                return
            for c in batch:
                row = [c.pk]
                if with_name:
                    row.append(c.name)
                if with_phone:
                    row.append(c.phone)
                row += [
                    str(sources.get(c.source, c.source)),
                    timezone.localtime(c.first_seen_at).strftime("%Y-%m-%d %H:%M"),
                    c.province,
                    c.city,
                    owner_label(c),
                    c.store.name if c.store else "",
                    "、".join(ct.tag.name for ct in c.customer_tags.all()),
                    _("yes") if c.in_pool else _("no"),
                    timezone.localtime(c.opted_out_at).strftime("%Y-%m-%d")
                    if c.opted_out_at
                    else "",
                ]
                yield row
            last = batch[-1].pk

    return rows()


def owner_label(customer: Customer) -> str:
    """Who serves the customer, from the cached columns (no extra query for a clerk)."""
    if not customer.owner_kind:
        return ""
    if customer.owner_kind == OwnerKind.CLERK and customer.owner_user is not None:
        return customer.owner_user.name
    return f"{OwnerKind(customer.owner_kind).label} #{customer.owner_id}"
