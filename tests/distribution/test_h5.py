"""Storefront pages: the share link's shop page, applying, and the distributor centre."""

import re

from django.test import Client

from siyu.core.access import Actor
from siyu.distribution import services
from siyu.distribution.models import Binding, Distributor, DistributorApplication, LinkClick
from siyu.ledger.models import Withdrawal

from .conftest import SYSTEM, complete, later, make_customer, make_distributor, pay, place_order


def test_a_share_link_binds_a_logged_in_shopper(db, shopper_client):
    d = make_distributor("小美")
    customer = make_customer()
    page = shopper_client(customer).get(f"/m/distribution/s/{d.code}/")
    assert page.status_code == 200 and "小美" in page.content.decode()
    binding = Binding.objects.get(customer=customer)
    assert binding.distributor == d and binding.click.landing.startswith("/m/distribution/s/")


def test_an_anonymous_visit_is_recorded_and_remembered_for_checkout(db):
    from siyu.distribution.h5 import link_code_from_session

    d = make_distributor("小美")
    client = Client()
    assert client.get(f"/m/distribution/s/{d.code}/").status_code == 200
    assert LinkClick.objects.get().outcome == "anonymous"
    from importlib import import_module

    from django.conf import settings

    key = client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE].value
    session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    request = type("R", (), {"session": session})()
    assert link_code_from_session(request) == d.code


def test_an_unknown_code_is_not_found(db):
    assert Client().get("/m/distribution/s/NOPE2345/").status_code == 404


def test_the_centre_needs_a_login(db):
    response = Client().get("/m/distribution/")
    assert response.status_code == 302 and "/m/login/" in response["Location"]


def test_a_customer_joins_from_the_apply_page(db, shopper_client):
    services.update_program(actor=SYSTEM, join_mode="open")
    customer = make_customer()
    client = shopper_client(customer)
    assert client.get("/m/distribution/").status_code == 302  # not a distributor yet
    page = client.get("/m/distribution/apply/").content.decode()
    assert "no fee, no purchase needed" in page or "无需" in page
    response = client.post("/m/distribution/apply/", {"display_name": "小红的好物"})
    assert response.status_code == 302 and response["Location"].endswith("/m/distribution/")
    assert Distributor.objects.get(customer=customer).display_name == "小红的好物"


def test_an_application_waits_for_review(db, shopper_client):
    services.update_program(actor=SYSTEM, join_mode="application")
    customer = make_customer()
    client = shopper_client(customer)
    client.post("/m/distribution/apply/", {"display_name": "小店", "motivation": "宝妈"})
    assert DistributorApplication.objects.get(customer=customer).motivation == "宝妈"
    assert (
        'data-testid="application-pending"' in client.get("/m/distribution/apply/").content.decode()
    )


def test_invitation_mode_takes_the_code_from_the_link(db, shopper_client):
    services.update_program(actor=SYSTEM, join_mode="invitation")
    inviter = make_distributor("邀请人")
    customer = make_customer()
    client = shopper_client(customer)
    client.get(f"/m/distribution/s/{inviter.code}/")
    client.post("/m/distribution/apply/", {"display_name": "新店", "invite_code": ""})
    assert Distributor.objects.get(customer=customer).parent == inviter


def test_the_centre_shows_earnings_sales_and_direct_referrals(db, shopper_client, programme):
    boss = make_distributor("大区")
    seller = make_distributor("小美", parent=boss)
    recruit_of_seller = make_customer("新朋友")
    services.record_click(seller.code, customer_id=recruit_of_seller.pk)
    order = place_order(make_customer("王芳"), [("面霜", 1, 30000)], distributor=seller)
    pay(order)
    complete(order, at=later(-10))
    services.settle_due()
    pending = place_order(make_customer(), [("面膜", 1, 10000)], distributor=seller)
    pay(pending)

    html = shopper_client(boss.customer).get("/m/distribution/").content.decode()
    assert "小美" in html  # the recruit they invited (direct)
    assert "新朋友" not in html and "新*" not in html  # not the recruit's customers: no team tree
    assert "¥9.00" in html  # 3% of ¥300, settled

    html = shopper_client(seller.customer).get("/m/distribution/").content.decode()
    values = dict(re.findall(r'data-testid="earn-(\w+)"><span class="n">([^<]+)<', html))
    assert values == {
        "available": "¥30.00",
        "frozen": "¥0.00",
        "pending": "¥10.00",
        "withdrawn": "¥0.00",
    }
    assert "新*" in html and "新朋友" not in html  # referrals are masked
    assert seller.code in html


def test_a_distributor_withdraws_from_the_centre(db, shopper_client):
    seller = make_distributor("小美")
    order = place_order(make_customer(), [("面霜", 1, 30000)], distributor=seller)
    pay(order)
    complete(order, at=later(-10))
    services.settle_due()
    client = shopper_client(seller.customer)
    client.post("/m/distribution/withdraw/", {"amount": "5"})  # below the ¥10 minimum
    assert Withdrawal.objects.count() == 0
    client.post("/m/distribution/withdraw/", {"amount": "25.50"})
    w = Withdrawal.objects.get()
    assert w.amount_fen == 2550 and w.owner_id == seller.pk
    assert "¥25.50" in client.get("/m/distribution/").content.decode()


def test_nobody_withdraws_someone_elses_commission(db):
    from siyu.core.errors import PermissionDenied

    seller = make_distributor("小美")
    other = make_customer()
    try:
        services.request_withdrawal(seller.pk, 1000, actor=Actor.for_customer(other.pk))
    except PermissionDenied:
        pass
    else:
        raise AssertionError("another customer requested a withdrawal")


def test_the_share_qr_code_is_an_svg_of_the_link(db):
    d = make_distributor("小美")
    response = Client().get(f"/m/distribution/qr/{d.code}.svg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<?xml") or b"<svg" in response.content[:200]


def test_the_member_page_links_to_the_centre(db, shopper_client):
    services.update_program(actor=SYSTEM, join_mode="open")
    customer = make_customer()
    html = shopper_client(customer).get("/m/me/").content.decode()
    assert "/m/distribution/apply/" in html
    d = make_distributor("小美")
    html = shopper_client(d.customer).get("/m/me/").content.decode()
    assert 'data-testid="distribution-panel"' in html and "/m/distribution/" in html
