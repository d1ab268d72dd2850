"""Distribution API: staff endpoints (distributors, commissions, applications, settings) and the
shopper's own distributor centre (`/me`, authenticated by the H5 shopper session)."""

from __future__ import annotations

from datetime import datetime

from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from siyu.core.api import ErrorBody, actor
from siyu.core.pagination import keyset_page
from siyu.mall.sessions import ShopperAuth

from . import queries, services

router = Router(tags=["distribution"])


class DistributorOut(Schema):
    id: int
    code: str
    display_name: str
    customer_id: int
    level_id: int
    level_name: str
    parent_id: int | None
    depth: int
    status: str
    joined_via: str
    joined_at: datetime

    @staticmethod
    def resolve_level_name(obj):
        return obj.level.name


class DistributorPage(Schema):
    items: list[DistributorOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class EarningsOut(Schema):
    pending_fen: int
    frozen_fen: int
    available_fen: int
    in_transit_fen: int
    withdrawn_fen: int
    owed_fen: int


class DistributorDetailOut(Schema):
    distributor: DistributorOut
    earnings: EarningsOut
    referred_customers: int
    recruits: int


class CommissionOut(Schema):
    id: int
    key: str
    order_id: int
    order_number: str
    order_line_id: int
    product_title: str
    level: int
    distributor_id: int
    base_fen: int
    rate_source: str
    rate_mode: str
    rate_value: int
    amount_fen: int
    reversed_fen: int
    clawed_back_fen: int
    net_fen: int
    status: str
    paid_at: datetime
    settle_after: datetime | None
    settled_at: datetime | None

    @staticmethod
    def resolve_order_number(obj):
        return obj.order.number

    @staticmethod
    def resolve_product_title(obj):
        return obj.order_line.product_title


class CommissionPage(Schema):
    items: list[CommissionOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class ApplicationOut(Schema):
    id: int
    customer_id: int
    display_name: str
    motivation: str
    status: str
    reject_reason: str
    created_at: datetime
    decided_at: datetime | None


class ApplicationPage(Schema):
    items: list[ApplicationOut]
    next_cursor: int | None
    count: int
    count_is_exact: bool


class ReasonIn(Schema):
    reason: str


class SettingsOut(Schema):
    join_mode: str
    levels: int
    binding_rule: str
    binding_days: int
    self_purchase_rebate: bool
    after_sales_days: int
    min_withdrawal_fen: int


class SettingsIn(Schema):
    join_mode: str | None = None
    levels: int | None = None
    binding_rule: str | None = None
    binding_days: int | None = None
    self_purchase_rebate: bool | None = None
    after_sales_days: int | None = None
    min_withdrawal_fen: int | None = None


def _page(qs, after, size):
    page = keyset_page(qs, after=after, size=size)
    return {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "count": page.count,
        "count_is_exact": page.count_is_exact,
    }


def _earnings(distributor) -> dict:
    e = queries.earnings(distributor)
    return {
        "pending_fen": e.pending,
        "frozen_fen": e.frozen,
        "available_fen": e.available,
        "in_transit_fen": e.in_transit,
        "withdrawn_fen": e.withdrawn,
        "owed_fen": e.owed,
    }


@router.get("/distributors/", response={200: DistributorPage, 403: ErrorBody})
def list_distributors(request, status: str = "", after: int | None = None, size: int = 50):
    """Distributors, newest first; `after` is the previous page's `next_cursor`."""
    qs = services.visible_distributors(actor(request))
    if status:
        qs = qs.filter(status=status)
    return _page(qs, after, size)


@router.get(
    "/distributors/{distributor_id}",
    response={200: DistributorDetailOut, 403: ErrorBody, 404: ErrorBody},
)
def get_distributor(request, distributor_id: int):
    d = get_object_or_404(services.visible_distributors(actor(request)), pk=distributor_id)
    return {
        "distributor": d,
        "earnings": _earnings(d),
        "referred_customers": queries.bound_count(d),
        "recruits": d.recruits.count(),
    }


@router.get("/commissions/", response={200: CommissionPage, 403: ErrorBody})
def list_commissions(
    request,
    status: str = "",
    distributor_id: int | None = None,
    after: int | None = None,
    size: int = 50,
):
    qs = services.visible_commissions(actor(request))
    if status:
        qs = qs.filter(status=status)
    if distributor_id:
        qs = qs.filter(distributor_id=distributor_id)
    return _page(qs, after, size)


@router.get("/applications/", response={200: ApplicationPage, 403: ErrorBody})
def list_applications(request, status: str = "pending", after: int | None = None, size: int = 50):
    qs = services.visible_applications(actor(request))
    if status:
        qs = qs.filter(status=status)
    return _page(qs, after, size)


@router.post(
    "/applications/{application_id}/approve",
    response={200: DistributorOut, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody},
)
def approve_application(request, application_id: int):
    return services.approve_application(application_id, actor=actor(request))


@router.post(
    "/applications/{application_id}/reject",
    response={200: ApplicationOut, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
def reject_application(request, application_id: int, payload: ReasonIn):
    return services.reject_application(application_id, actor=actor(request), reason=payload.reason)


@router.get("/settings", response={200: SettingsOut, 403: ErrorBody})
def get_settings(request):
    services.visible_distributors(actor(request))  # distribution.view
    return services.program()


@router.patch(
    "/settings", response={200: SettingsOut, 403: ErrorBody, 409: ErrorBody, 422: ErrorBody}
)
def change_settings(request, payload: SettingsIn):
    """Change the programme's rules. There is no fee or purchase-threshold setting: joining is
    always free (unknown fields are refused)."""
    changes = payload.dict(exclude_none=True)
    return services.update_program(actor=actor(request), **changes)


# --- the shopper's own distributor centre ------------------------------------------------------


class MeOut(Schema):
    distributor: DistributorOut
    earnings: EarningsOut
    share_path: str
    referred_customers: int
    recruits: int


class WithdrawIn(Schema):
    amount_fen: int


class WithdrawalOut(Schema):
    id: int
    amount_fen: int
    status: str
    reject_reason: str
    provider_state: str
    package_info: str
    requested_at: datetime
    paid_at: datetime | None


def _my_distributor(request):
    me = actor(request)
    d = services.distributor_for_customer(me.customer_id) if me.kind == "customer" else None
    if d is None:
        raise services.NotADistributor()
    return me, d


@router.get("/me", auth=ShopperAuth(), response={200: MeOut, 401: ErrorBody, 404: ErrorBody})
def my_centre(request):
    """The logged-in shopper's distributor centre: earnings by stage and the share link."""
    _me, d = _my_distributor(request)
    return {
        "distributor": d,
        "earnings": _earnings(d),
        "share_path": f"/m/distribution/s/{d.code}/",
        "referred_customers": queries.bound_count(d),
        "recruits": d.recruits.count(),
    }


@router.get(
    "/me/commissions",
    auth=ShopperAuth(),
    response={200: CommissionPage, 401: ErrorBody, 404: ErrorBody},
)
def my_commissions(request, after: int | None = None, size: int = 20):
    _me, d = _my_distributor(request)
    from .models import Commission

    qs = Commission.objects.filter(distributor=d).select_related("order", "order_line")
    return _page(qs, after, size)


@router.post(
    "/me/withdrawals",
    auth=ShopperAuth(),
    response={200: WithdrawalOut, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody},
)
def request_withdrawal(request, payload: WithdrawIn):
    """Ask to be paid `amount_fen` of settled commission (reviewed by an operator)."""
    me, d = _my_distributor(request)
    return services.request_withdrawal(d.pk, payload.amount_fen, actor=me)
