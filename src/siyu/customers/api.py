"""Customers API (/api/v1/customers/): the same services and row scope as the console."""

from __future__ import annotations

from ninja import Query, Router
from ninja.responses import Status

from siyu.core.access import Actor, actor_from_request
from siyu.core.pagination import keyset_page

from . import services
from .models import Customer, Ownership, TagGroup
from .schemas import (
    BulkTagIn,
    ChangedOut,
    ConsentIn,
    ContactIn,
    CountOut,
    CustomerDetail,
    CustomerPage,
    CustomerQuery,
    MergeIn,
    MergeOut,
    OwnerIn,
    OwnershipOut,
    ProfileIn,
    RegistrationOut,
    SuggestionOut,
    TagGroupOut,
    TagIn,
)

router = Router(tags=["customers"])


def _tags(customer: Customer) -> list[dict]:
    return [
        {
            "id": ct.tag_id,
            "name": ct.tag.name,
            "group": ct.tag.group.name,
            "group_id": ct.tag.group_id,
            "by_rule": ct.by_rule,
        }
        for ct in customer.customer_tags.all()
    ]


def _summary(actor: Actor, c: Customer) -> dict:
    return {
        "id": c.pk,
        "name": services.display_name(actor, c) if c.name or c.erased_at else "",
        "phone": services.display_phone(actor, c),
        "source": c.source,
        "city": c.city,
        "first_seen_at": c.first_seen_at,
        "owner_kind": c.owner_kind,
        "owner_id": c.owner_id,
        "store_id": c.store_id,
        "in_pool": c.in_pool,
        "opted_out": c.opted_out_at is not None,
        "tags": _tags(c),
    }


def _detail(actor: Actor, c: Customer) -> dict:
    c = (
        Customer.objects.prefetch_related("customer_tags__tag__group", "identities", "consents")
        .select_related("owner_user")
        .get(pk=c.pk)
    )
    data = _summary(actor, c)
    data.update(
        phone=services.display_phone(actor, c, full=True),
        gender=c.gender,
        birthday=c.birthday,
        province=c.province,
        source_detail=c.source_detail,
        opted_out_at=c.opted_out_at,
        merged_into=c.merged_into_id,
        erased_at=c.erased_at,
        identities=[
            {
                "kind": i.kind,
                "value": services.display_identity(actor, i),
                "source": i.source,
                "created_at": i.created_at,
            }
            for i in c.identities.all()
        ],
        consents=list(c.consents.all()),
        owners=list(Ownership.objects.filter(customer=c)),
    )
    return data


@router.get("/", response=CustomerPage, summary="List and search customers (cursor pagination)")
def list_customers(request, query: Query[CustomerQuery]):
    """Newest first. Pass `next_cursor` back as `after` for the next page. Phones are masked."""
    actor = actor_from_request(request)
    params = query.dict(exclude={"after", "size"})
    params = {k: v for k, v in params.items() if v not in (None, "", [])}
    filters = services.CustomerFilters.from_params(params)
    qs = services.with_list_columns(services.search_customers(actor, filters))
    page = keyset_page(qs, after=query.after, size=query.size)
    return {
        "items": [_summary(actor, c) for c in page.items],
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


@router.post(
    "/",
    response={200: RegistrationOut, 201: RegistrationOut},
    summary="Register a contact: find the customer by strong identities, or create one",
)
def register(request, payload: ContactIn):
    """201 when a new customer was created, 200 when the contact attached to an existing one.
    Identities pointing at two different customers create a merge suggestion, never a merge."""
    actor = actor_from_request(request)
    data = services.ContactInput(**payload.dict())
    reg = services.register_contact(data, actor=actor)
    body = {
        "created": reg.created,
        "visible": reg.visible,
        "customer": _detail(actor, reg.customer) if reg.visible else None,
        "merge_suggestions": [s.pk for s in reg.suggestions],
    }
    return Status(201 if reg.created else 200, body)


@router.get("/tags", response=list[TagGroupOut], summary="Tag groups and their tags")
def tag_groups(request):
    actor = actor_from_request(request)
    services.tags_in_use(actor)  # authorises
    return [
        {
            "id": g.pk,
            "name": g.name,
            "exclusive": g.exclusive,
            "tags": [
                {
                    "id": t.pk,
                    "name": t.name,
                    "group": g.name,
                    "group_id": g.pk,
                    "by_rule": bool(t.rule),
                }
                for t in g.tags.all()
            ],
        }
        for g in TagGroup.objects.prefetch_related("tags")
    ]


@router.post(
    "/bulk-tag", response=CountOut, summary="Tag (or untag) every customer of a filtered list"
)
def bulk_tag(request, payload: BulkTagIn):
    actor = actor_from_request(request)
    filters = services.CustomerFilters.from_params(payload.filters)
    if payload.remove:
        return {"count": services.bulk_untag(actor, filters, payload.tag_id)}
    return {"count": services.bulk_tag(actor, filters, payload.tag_id)}


@router.post("/merge", response=MergeOut, summary="Merge one customer into another")
def merge(request, payload: MergeIn):
    actor = actor_from_request(request)
    return services.merge_customers(
        payload.survivor_id,
        payload.merged_id,
        actor=actor,
        reason=payload.reason,
        suggestion_id=payload.suggestion_id,
    )


@router.get("/merge-suggestions", response=list[SuggestionOut], summary="Open merge suggestions")
def merge_suggestions(request, after: int | None = None, size: int = 50):
    actor = actor_from_request(request)
    page = keyset_page(services.open_suggestions(actor), after=after, size=size)
    return page.items


@router.post(
    "/merge-suggestions/{suggestion_id}/dismiss",
    response=SuggestionOut,
    summary="Two records are different people: dismiss the suggestion",
)
def dismiss(request, suggestion_id: int):
    return services.dismiss_suggestion(suggestion_id, actor=actor_from_request(request))


@router.get("/{customer_id}", response=CustomerDetail, summary="One customer (masked per role)")
def detail(request, customer_id: int):
    actor = actor_from_request(request)
    return _detail(actor, services.get_customer(actor, customer_id))


@router.patch("/{customer_id}", response=CustomerDetail, summary="Edit profile fields")
def update(request, customer_id: int, payload: ProfileIn):
    actor = actor_from_request(request)
    changes = payload.dict(exclude_unset=True)
    customer = services.update_profile(customer_id, actor=actor, **changes)
    return _detail(actor, customer)


@router.post("/{customer_id}/tags", response=ChangedOut, summary="Add a tag")
def add_tag(request, customer_id: int, payload: TagIn):
    actor = actor_from_request(request)
    return {"changed": services.add_tag(customer_id, payload.tag_id, actor=actor)}


@router.delete("/{customer_id}/tags/{tag_id}", response=ChangedOut, summary="Remove a tag")
def remove_tag(request, customer_id: int, tag_id: int):
    actor = actor_from_request(request)
    return {"changed": services.remove_tag(customer_id, tag_id, actor=actor)}


@router.post(
    "/{customer_id}/consents",
    response=CustomerDetail,
    summary="Record consent on a channel (or channel 'all': the global opt-out)",
)
def consent(request, customer_id: int, payload: ConsentIn):
    actor = actor_from_request(request)
    if payload.channel == "all":
        if payload.granted:
            services.withdraw_opt_out(customer_id, actor=actor, source=payload.source)
        else:
            services.opt_out_everywhere(customer_id, actor=actor, source=payload.source)
    else:
        services.set_consent(
            customer_id, payload.channel, payload.granted, actor=actor, source=payload.source
        )
    return _detail(actor, services.get_customer(actor, customer_id))


@router.post("/{customer_id}/owner", response=OwnershipOut, summary="Assign an owner")
def owner(request, customer_id: int, payload: OwnerIn):
    actor = actor_from_request(request)
    return services.assign_owner(
        customer_id,
        actor=actor,
        owner_id=payload.owner_id,
        owner_kind=payload.owner_kind,
        owner_label=payload.owner_label,
        reason=payload.reason,
    )


@router.get(
    "/{customer_id}/export",
    response=dict,
    summary="Personal-data export (PIPL): everything about one person, decrypted; audited",
)
def export(request, customer_id: int):
    return services.export_personal_data(customer_id, actor=actor_from_request(request))
