"""Console pages, the H5 member centre and the API: who may see and change what."""

from __future__ import annotations

import pytest

from siyu.membership.models import CardPlan, MemberPrice, PointsEntry, Referral, Tier
from siyu.membership.services import points, tiers
from tests import commerce

from .conftest import buy, complete

pytestmark = pytest.mark.django_db

PAGES = ["", "tiers/", "cards/", "points/", "referrals/", "settings/"]


@pytest.mark.parametrize("page", PAGES)
def test_operators_and_analysts_see_the_console_pages(console_client, operator, analyst, page):
    for user in (operator, analyst):
        response = console_client(user).get(f"/console/membership/{page}")
        assert response.status_code == 200, (user.role, page)


def test_clerks_cannot_open_membership_pages(console_client, clerk):
    assert console_client(clerk).get("/console/membership/").status_code == 403


def test_the_overview_shows_live_figures(console_client, operator, shopper, goods, card_plan):
    complete(buy(shopper, goods, 2))
    buy(shopper, card_plan.sku)
    html = console_client(operator).get("/console/membership/").content.decode()
    assert 'data-testid="fig-points-issued">398<' in html
    assert 'data-testid="fig-cards-sold">1<' in html


def test_an_operator_adjusts_points_with_a_reason(console_client, operator, shopper):
    client = console_client(operator)
    response = client.post(
        "/console/membership/points/",
        {"customer_id": shopper.pk, "points": 250, "reason": "客服补偿", "key": "abc"},
    )
    assert response.status_code == 302
    assert points.balance(shopper.pk) == 250
    assert PointsEntry.objects.get().note == "客服补偿"


def test_an_adjustment_without_a_reason_is_refused_naming_the_field(
    console_client, operator, shopper
):
    response = console_client(operator).post(
        "/console/membership/points/",
        {"customer_id": shopper.pk, "points": 250, "reason": "", "key": "abc"},
    )
    assert response.status_code == 200 and points.balance(shopper.pk) == 0


def test_analysts_cannot_adjust_points(console_client, analyst, shopper):
    response = console_client(analyst).post(
        "/console/membership/points/",
        {"customer_id": shopper.pk, "points": 250, "reason": "x", "key": "abc"},
    )
    assert response.status_code == 403 and points.balance(shopper.pk) == 0


def test_an_operator_adds_a_tier_and_a_card_plan(console_client, operator, goods):
    client = console_client(operator)
    response = client.post(
        "/console/membership/tiers/",
        {
            "name": "金卡",
            "rank": 2,
            "min_spend_fen": "2000",
            "discount_percent": 5,
            "points_multiplier_percent": 150,
            "free_shipping": "on",
        },
    )
    assert response.status_code == 302
    assert Tier.objects.get().min_spend_fen == 200000
    response = client.post(
        "/console/membership/cards/",
        {
            "name": "年卡",
            "sku_code": goods.code,
            "duration_days": 365,
            "discount_percent": 5,
            "points_multiplier_percent": 100,
            "full_refund_days": 7,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert CardPlan.objects.get().sku == goods


def test_the_member_centre_shows_points_tier_card_and_invite(
    shopper_client, shopper, goods, tiers, card_plan
):
    complete(buy(shopper, goods, 1))
    html = shopper_client(shopper).get("/m/membership/").content.decode()
    assert 'data-testid="points-balance">199<' in html
    assert 'data-testid="tier-missing"' in html
    assert f"/m/checkout/?sku={card_plan.sku_id}" in html
    assert tiers[0].name in html
    assert "/m/membership/i/" in html


def test_the_member_page_links_to_the_member_centre(shopper_client, shopper):
    html = shopper_client(shopper).get("/m/me/").content.decode()
    assert 'data-testid="membership-panel"' in html


def test_the_points_history_page_lists_entries(shopper_client, shopper, goods):
    order = complete(buy(shopper, goods, 1))
    html = shopper_client(shopper).get("/m/membership/points/").content.decode()
    assert html.count('data-testid="points-entry"') == 1 and order.number in html


def test_an_invitation_link_records_the_friend_and_remembers_the_code(shopper_client, shopper):
    friend = commerce.customer("新朋友")
    code = tiers.member_for(shopper.pk).code
    response = shopper_client(friend).get(f"/m/membership/i/{code}/")
    assert response.status_code == 302 and f"inv={code}" in response["Location"]
    assert Referral.objects.get(invitee=friend).referrer == shopper


def test_checkout_offers_points_and_uses_them_when_ticked(shopper_client, shopper, goods):
    complete(buy(shopper, goods, 5))
    client = shopper_client(shopper)
    html = client.get(f"/m/checkout/?sku={goods.pk}&quantity=1").content.decode()
    assert 'data-testid="use-points"' in html
    html = client.get(f"/m/checkout/?sku={goods.pk}&quantity=1&use_points=1").content.decode()
    assert "−¥9.95" in html


def test_the_api_gives_the_shopper_their_membership(shopper_client, shopper, goods):
    complete(buy(shopper, goods, 1))
    body = shopper_client(shopper).get("/api/v1/membership/me").json()
    assert body["points"] == 199 and body["tier"]["spend_fen"] == 19900
    history = shopper_client(shopper).get("/api/v1/membership/me/points").json()
    assert [e["reason"] for e in history] == ["earn"]


def test_the_api_adjusts_points_for_operators_only(api_client, operator, analyst, shopper):
    payload = {"customer_id": shopper.pk, "points": 10, "reason": "补偿", "key": "k-1"}
    denied = api_client(analyst).post(
        "/api/v1/membership/points/adjustments", payload, content_type="application/json"
    )
    assert denied.status_code == 403
    ok = api_client(operator).post(
        "/api/v1/membership/points/adjustments", payload, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["delta"] == 10
    missing = api_client(operator).post(
        "/api/v1/membership/points/adjustments",
        {**payload, "reason": "", "key": "k-2"},
        content_type="application/json",
    )
    assert missing.status_code == 422 and "reason" in missing.json()["error"]["fields"]
    figures = api_client(analyst).get("/api/v1/membership/figures").json()
    assert figures["points_issued"] == 10


def test_the_product_page_shows_member_prices_and_a_share_link(shopper_client, shopper, goods):
    MemberPrice.objects.create(sku=goods, price_fen=16900)
    html = shopper_client(shopper).get(f"/m/p/{goods.product_id}/").content.decode()
    code = tiers.member_for(shopper.pk).code
    assert 'data-testid="member-prices"' in html and "¥169.00" in html
    assert f"/m/p/{goods.product_id}/?inv={code}" in html


def test_a_friend_arriving_by_a_product_share_link_is_recorded_at_checkout(
    shopper_client, shopper, goods
):
    friend = commerce.customer("新朋友")
    code = tiers.member_for(shopper.pk).code
    client = shopper_client(friend)
    client.get(f"/m/p/{goods.product_id}/?inv={code}")
    from siyu.core.access import Actor
    from siyu.mall.services import AddressInput, save_address

    save_address(
        AddressInput(
            "新朋友", "13800138001", "上海市", "上海市", "静安区", "南京西路1号", is_default=True
        ),
        actor=Actor.for_customer(friend.pk),
    )
    page = client.get(f"/m/checkout/?sku={goods.pk}&quantity=1").content.decode()
    import re

    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    response = client.post(
        "/m/checkout/",
        {
            "sku": goods.pk,
            "quantity": 1,
            "item": f"{goods.pk}:1",
            "method": "delivery",
            "idempotency_key": key,
            "coupon": "none",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assert Referral.objects.get(invitee=friend).referrer == shopper


def test_the_console_customer_page_shows_membership(console_client, operator, shopper, goods):
    complete(buy(shopper, goods, 1))
    html = console_client(operator).get(f"/console/customers/{shopper.pk}/").content.decode()
    assert 'data-testid="customer-membership"' in html and ">199 <" in html
