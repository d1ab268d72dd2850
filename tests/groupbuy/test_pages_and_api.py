"""The shopper API (open, join, leave, group by share code), the staff API and console pages, and
the H5 pages, with who may see and do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.core.access import Actor, Role
from siyu.groupbuy import services
from siyu.groupbuy.models import Activity, Group, GroupStatus, MemberStatus
from siyu.orders.models import Channel, Order
from tests import commerce

from .conftest import join, make_activity, open_paid_group, purchase, sku_id_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper_client(db):
    from importlib import import_module

    from django.conf import settings
    from django.test import Client

    def make(customer):
        client = Client()
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store["customer_id"] = customer.pk
        store.save()
        client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE] = store.session_key
        return client

    return make


def _seat(activity, **extra):
    return {"sku_id": sku_id_of(activity), "quantity": 1, "address": commerce.ADDRESS, **extra}


def test_a_shopper_opens_and_others_join_through_the_api(shopper_client):
    activity = make_activity(size=2)
    c1 = commerce.customer("林一")
    api = shopper_client(c1)
    listed = api.get("/api/v1/groupbuy/shop/activities").json()
    assert [a["id"] for a in listed] == [activity.pk]
    assert listed[0]["items"][0]["group_price_fen"] == 9900

    opened = api.post(
        f"/api/v1/groupbuy/shop/activities/{activity.pk}/open",
        _seat(activity),
        content_type="application/json",
        headers={"Idempotency-Key": "open-1"},
    )
    assert opened.status_code == 201, opened.content
    body = opened.json()
    assert body["payable_fen"] == 9900 and body["group"]["status"] == "awaiting_payment"
    again = api.post(
        f"/api/v1/groupbuy/shop/activities/{activity.pk}/open",
        _seat(activity),
        content_type="application/json",
        headers={"Idempotency-Key": "open-1"},
    )
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["order_id"] == body["order_id"]
    commerce.pay(Order.objects.get(pk=body["order_id"]))

    code = body["group"]["code"]
    public = shopper_client(commerce.customer("路人")).get(f"/api/v1/groupbuy/shop/groups/{code}")
    assert public.json()["seats_left"] == 1
    assert public.json()["members"] == [{"name": "林*", "is_initiator": True, "paid": True}]

    c2 = commerce.customer("王二")
    joined = shopper_client(c2).post(
        f"/api/v1/groupbuy/shop/groups/{code}/join",
        _seat(activity),
        content_type="application/json",
        headers={"Idempotency-Key": "join-1"},
    )
    assert joined.status_code == 201, joined.content
    order = Order.objects.get(pk=joined.json()["order_id"])
    assert order.channel == Channel.GROUP_BUY and order.customer_id == c2.pk
    commerce.pay(order)
    assert Group.objects.get(code=code).status == GroupStatus.SUCCEEDED

    late = shopper_client(commerce.customer("迟到")).post(
        f"/api/v1/groupbuy/shop/groups/{code}/join",
        _seat(activity),
        content_type="application/json",
        headers={"Idempotency-Key": "join-2"},
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "group_closed"


def test_the_shopper_api_needs_a_login_a_key_and_valid_fields(shopper_client):
    from django.test import Client

    activity = make_activity(size=2)
    url = f"/api/v1/groupbuy/shop/activities/{activity.pk}/open"
    assert Client().post(url, _seat(activity), content_type="application/json").status_code == 401
    api = shopper_client(commerce.customer())
    no_key = api.post(url, _seat(activity), content_type="application/json")
    assert no_key.status_code == 422
    assert no_key.json()["error"]["code"] == "idempotency_key_required"
    bad = api.post(
        url,
        _seat(activity, quantity=0, address={**commerce.ADDRESS, "phone": "123"}),
        content_type="application/json",
        headers={"Idempotency-Key": "k"},
    )
    assert bad.status_code == 422 and "quantity" in bad.json()["error"]["fields"]


def test_a_shopper_cannot_leave_someone_elses_seat(shopper_client):
    activity = make_activity(size=3)
    group, initiator = open_paid_group(activity)
    member = group.members.get()
    stranger = shopper_client(commerce.customer("陌生人"))
    assert stranger.post(f"/api/v1/groupbuy/shop/members/{member.pk}/leave").status_code == 404
    own = shopper_client(initiator).post(f"/api/v1/groupbuy/shop/members/{member.pk}/leave")
    assert own.status_code == 200 and own.json()["member_status"] == MemberStatus.REFUNDING


def test_staff_api_creates_ends_and_reports(api_client, operator, analyst):
    sku = commerce.sku_of(commerce.product(price_fen=19900))
    now = timezone.now()
    payload = {
        "title": "双人团",
        "group_size": 2,
        "time_limit_hours": 12,
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "items": [{"sku_id": sku.pk, "group_price_fen": 12900}],
    }
    assert (
        api_client(analyst)
        .post("/api/v1/groupbuy/activities", payload, content_type="application/json")
        .status_code
        == 403
    )
    created = api_client(operator).post(
        "/api/v1/groupbuy/activities", payload, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    bad = api_client(operator).post(
        "/api/v1/groupbuy/activities",
        {**payload, "group_size": 1, "items": [{"sku_id": sku.pk, "group_price_fen": 19900}]},
        content_type="application/json",
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"group_size", f"items.{sku.pk}"}

    activity = Activity.objects.get(pk=created.json()["id"])
    group, _ = open_paid_group(activity)
    _c, joined = join(group, activity)
    commerce.pay(joined.member.order)
    figures = api_client(analyst).get("/api/v1/groupbuy/figures").json()
    assert figures == [
        {
            "activity_id": activity.pk,
            "title": "双人团",
            "groups": 1,
            "open": 0,
            "succeeded": 1,
            "failed": 0,
            "success_rate": 1.0,
            "gmv_fen": 2 * 12900,
        }
    ]
    ended = api_client(operator).post(f"/api/v1/groupbuy/activities/{activity.pk}/end")
    assert ended.json()["status"] == "ended"


def test_console_pages_show_figures_and_live_groups(console_client, operator, make_staff):
    activity = make_activity(size=3)
    group, _ = open_paid_group(activity)
    client = console_client(operator)
    page = client.get("/console/groupbuy/")
    assert page.status_code == 200 and activity.title in page.content.decode()
    groups = client.get("/console/groupbuy/groups/").content.decode()
    assert group.code in groups
    assert client.get(f"/console/groupbuy/groups/{group.pk}/").status_code == 200
    order_page = client.get(f"/console/orders/{group.members.get().order_id}/").content.decode()
    assert 'data-testid="order-group"' in order_page and group.code in order_page
    assert 'data-testid="order-hold"' in order_page
    form = client.post(
        "/console/groupbuy/new/",
        {
            "title": "新活动",
            "group_size": 60,
            "time_limit_hours": 24,
            "starts_at": "2026-12-01T10:00",
            "ends_at": "2026-12-08T10:00",
            "items": "NOPE 9.90",
        },
    )
    text = form.content.decode()
    assert form.status_code == 200 and "NOPE" in text
    clerk = console_client(make_staff(Role.CLERK))
    assert clerk.get("/console/groupbuy/").status_code in (403, 302)


def test_h5_group_page_shows_members_countdown_share_link_and_poster(shopper_client):
    activity = make_activity(size=3)
    group, initiator = open_paid_group(activity)
    page = shopper_client(initiator).get(f"/m/groupbuy/g/{group.code}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="countdown"' in html and f"/m/groupbuy/g/{group.code}/" in html
    assert html.count('data-testid="empty-seat"') == 2
    qr = shopper_client(initiator).get(f"/m/groupbuy/g/{group.code}/qr.svg")
    assert qr["Content-Type"] == "image/svg+xml" and b"<svg" in qr.content
    poster = shopper_client(initiator).get(f"/m/groupbuy/g/{group.code}/poster/")
    assert b"poster-qr" in poster.content
    assert shopper_client(initiator).get("/m/groupbuy/").status_code == 200
    assert shopper_client(initiator).get(f"/m/groupbuy/a/{activity.pk}/").status_code == 200


def test_h5_join_places_the_order_and_sends_the_shopper_to_pay(shopper_client):
    activity = make_activity(size=2)
    group, _ = open_paid_group(activity)
    c = commerce.customer("赵三")
    response = shopper_client(c).post(
        f"/m/groupbuy/g/{group.code}/join/",
        {"sku_id": sku_id_of(activity), "quantity": 1, "form_key": "f1", **commerce.ADDRESS},
    )
    member = group.members.get(customer=c)
    assert (
        response.status_code == 302 and response["Location"] == f"/m/orders/{member.order_id}/pay/"
    )


def test_distribution_still_credits_a_distributor_for_a_group_order():
    from tests.distribution.conftest import make_distributor

    activity = make_activity(size=2)
    distributor = make_distributor("小美")
    group, _ = open_paid_group(activity)
    c = commerce.customer("被推荐人")
    joined = services.join_group(
        Actor.for_customer(c.pk),
        group.code,
        purchase(activity, hints={"share_code": distributor.code}),
    )
    order = joined.member.order
    assert order.channel == Channel.GROUP_BUY
    assert (order.credited_kind, order.credited_id) == ("distributor", distributor.pk)
