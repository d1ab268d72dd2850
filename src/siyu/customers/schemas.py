"""Request and response shapes of the customers API."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Field, Schema


class CustomerQuery(Schema):
    """The list filters; the same as the console's (see services.CustomerFilters)."""

    q: str = Field("", description="Name prefix, 11-digit mobile, last 4 digits, platform id, #id")
    source: str = ""
    tag: list[int] = Field(default_factory=list, description="Tag ids; all must be held")
    owner: str = Field("", description='A clerk\'s user id, or "none" for unowned customers')
    store: int | None = None
    city: str = ""
    consent: str = Field("", description='A channel (reachable there) or "opted_out"')
    since: date | None = Field(None, description="First seen on or after (Asia/Shanghai)")
    until: date | None = Field(None, description="First seen on or before")
    after: int | None = Field(None, description="Cursor: the next_cursor of the previous page")
    size: int = Field(50, ge=1, le=500)


class TagOut(Schema):
    id: int
    name: str
    group: str
    group_id: int
    by_rule: bool = False


class CustomerOut(Schema):
    id: int
    name: str = Field(description="Masked (张**) for roles without customers.view_pii")
    phone: str = Field(description="Always masked in lists (138****1234)")
    source: str
    city: str
    first_seen_at: datetime
    owner_kind: str
    owner_id: int | None
    store_id: int | None
    in_pool: bool
    opted_out: bool
    tags: list[TagOut]


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class IdentityOut(Schema):
    kind: str
    value: str = Field(description="Masked for roles without customers.view_pii")
    source: str
    created_at: datetime


class ConsentOut(Schema):
    channel: str
    granted: bool
    source: str
    updated_at: datetime


class OwnershipOut(Schema):
    owner_kind: str
    owner_id: int
    owner_label: str
    store_id: int | None
    started_at: datetime
    ended_at: datetime | None
    reason: str


class CustomerDetail(CustomerOut):
    phone: str = Field(description="Whole for roles with customers.view_pii, else masked")
    gender: str
    birthday: date | None
    province: str
    source_detail: str
    opted_out_at: datetime | None
    merged_into: int | None
    erased_at: datetime | None
    identities: list[IdentityOut]
    consents: list[ConsentOut]
    owners: list[OwnershipOut]


class ContactIn(Schema):
    source: str = "other"
    name: str = ""
    phone: str = ""
    identities: dict[str, str] = Field(
        default_factory=dict, description="Identity kind → value, e.g. {'unionid': 'o...'}"
    )
    source_detail: str = ""
    gender: str = ""
    birthday: date | None = None
    province: str = ""
    city: str = ""
    referred_by_id: int | None = None
    occurred_at: datetime | None = None
    touch_ref: str = Field("", description="Business key of the sign-up: registers only once")
    consents: dict[str, bool] = Field(default_factory=dict, description="Channel → granted")
    consent_source: str = ""
    owner_user_id: int | None = None


class RegistrationOut(Schema):
    created: bool
    visible: bool = Field(description="False: matched a customer outside your scope")
    customer: CustomerDetail | None
    merge_suggestions: list[int]


class ProfileIn(Schema):
    name: str | None = None
    gender: str | None = None
    birthday: date | None = None
    province: str | None = None
    city: str | None = None


class TagIn(Schema):
    tag_id: int


class ChangedOut(Schema):
    changed: bool


class ConsentIn(Schema):
    channel: str = Field(description='A channel, or "all" for the global opt-out')
    granted: bool
    source: str = Field(description="Where the customer gave this answer")


class OwnerIn(Schema):
    owner_id: int
    owner_kind: str = "clerk"
    owner_label: str = ""
    reason: str = ""


class MergeIn(Schema):
    survivor_id: int
    merged_id: int
    reason: str = ""
    suggestion_id: int | None = None


class MergeOut(Schema):
    id: int
    survivor_id: int
    merged_id: int
    reason: str
    merged_at: datetime
    merged_by: str


class SuggestionOut(Schema):
    id: int
    customer_a: int = Field(alias="customer_a_id")
    customer_b: int = Field(alias="customer_b_id")
    reason: str
    status: str
    created_at: datetime


class BulkTagIn(Schema):
    tag_id: int
    remove: bool = False
    filters: dict = Field(default_factory=dict, description="The list filters (q, source, tag...)")


class CountOut(Schema):
    count: int


class TagGroupOut(Schema):
    id: int
    name: str
    exclusive: bool
    tags: list[TagOut]
