"""Shopper login pages and sessions: per customer, rotated at login, apart from staff sessions."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings
from django.test import Client

from siyu.customers.models import Customer, Identity
from siyu.mall.models import LoginCode
from siyu.mall.sms import ConsoleSmsAdapter

from .conftest import code_for

pytestmark = pytest.mark.django_db
PHONE = "13912345678"
SHOPPER = settings.SIYU_SHOPPER_SESSION_COOKIE


def phone_login(client: Client, phone: str = PHONE, next_url: str = "/m/me/"):
    sent = client.post("/m/login/code/", {"phone": phone}, headers={"HX-Request": "true"})
    assert sent.status_code == 200, sent.content
    return client.post(
        "/m/login/", {"phone": phone, "code": code_for(phone), "next": next_url, "action": "login"}
    )


def test_phone_login_creates_a_mall_customer_and_returns_to_the_page_asked_for():
    client = Client()
    response = phone_login(client, next_url="/m/me/addresses/")
    assert response.status_code == 302 and response.url == "/m/me/addresses/"
    customer = Customer.objects.get()
    assert customer.source == "mall" and customer.phone == PHONE
    assert Identity.objects.filter(customer=customer, kind="phone").exists()
    assert client.session.get("customer_id") is None  # the staff session is untouched
    assert client.get("/m/me/").status_code == 200


def test_logging_in_again_finds_the_same_customer(make_customer):
    existing = make_customer(PHONE)
    client = Client()
    phone_login(client)
    assert Customer.objects.count() == 1
    page = client.get("/m/me/")
    assert page.context["profile"].customer_id == existing.pk


def test_the_session_key_changes_at_login_so_a_planted_key_is_worthless():
    from importlib import import_module

    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    planted = store_class()
    planted["seen"] = True
    planted.save()
    client = Client()
    client.cookies[SHOPPER] = planted.session_key
    client.post("/m/login/code/", {"phone": PHONE})
    client.post("/m/login/", {"phone": PHONE, "code": code_for(PHONE), "action": "login"})
    assert client.cookies[SHOPPER].value != planted.session_key
    assert not store_class().exists(planted.session_key)
    assert client.get("/m/me/").status_code == 200


def test_send_code_over_htmx_starts_the_countdown():
    response = Client().post("/m/login/code/", {"phone": PHONE}, headers={"HX-Request": "true"})
    assert '"codeSent": {"wait": 60}' in response["HX-Trigger"]
    assert "138" not in response.content.decode() and "139****5678" in response.content.decode()


def test_without_javascript_the_login_form_sends_the_code_itself():
    response = Client().post("/m/login/", {"phone": PHONE, "action": "send"})
    assert response.status_code == 200
    assert "139****5678" in response.content.decode()
    assert LoginCode.objects.count() == 1


def test_a_wrong_code_shows_the_error_and_does_not_log_in():
    client = Client()
    client.post("/m/login/code/", {"phone": PHONE})
    wrong = "000000" if code_for(PHONE) != "000000" else "111111"
    response = client.post("/m/login/", {"phone": PHONE, "code": wrong, "action": "login"})
    assert response.status_code == 400
    assert response.context["code_error"]
    assert client.get("/m/me/").status_code == 302


def test_login_never_redirects_off_site():
    client = Client()
    response = phone_login(client, next_url="https://evil.example/m/")
    assert response.url == "/m/"
    client2 = Client()
    assert phone_login(client2, phone="13912340000", next_url="//evil.example/m/").url == "/m/"


def test_pages_that_need_a_shopper_send_to_login_and_back():
    response = Client().get("/m/me/addresses/")
    assert response.status_code == 302
    assert response.url == "/m/login/?next=%2Fm%2Fme%2Faddresses%2F"
    htmx = Client().get("/m/me/", headers={"HX-Request": "true"})
    assert htmx["HX-Redirect"].startswith("/m/login/")


def test_staff_and_shopper_sessions_are_separate(operator):
    client = Client()
    client.force_login(operator)
    assert client.get("/m/me/").status_code == 302  # a staff login is not a shopper login
    phone_login(client)
    assert client.get("/console/").status_code == 200
    assert client.get("/m/me/").status_code == 200
    client.post("/m/logout/")
    assert client.get("/m/me/").status_code == 302
    assert client.get("/console/").status_code == 200  # shopper logout kept the staff session
    phone_login(client, phone="13912340000")
    client.post("/console/staff/logout/")
    assert client.get("/m/me/").status_code == 200  # staff logout kept the shopper session
    assert client.get("/console/").status_code == 302


def test_a_shopper_session_cookie_never_opens_the_console():
    client = Client()
    phone_login(client)
    client.cookies[settings.SESSION_COOKIE_NAME] = client.cookies[SHOPPER].value
    assert client.get("/console/").status_code == 302


def test_switching_customer_on_one_browser_starts_a_clean_session(settings):
    settings.SIYU_LOGIN_CODE_RESEND_SECONDS = 0
    client = Client()
    phone_login(client)
    first = client.get("/m/me/").context["profile"].customer_id
    phone_login(client, phone="13912340000")
    second = client.get("/m/me/").context["profile"].customer_id
    assert first != second


def test_a_session_of_a_merged_customer_follows_to_the_survivor(make_customer, shopper_client):
    survivor = make_customer("13911110000")
    merged = make_customer("13922220000")
    Customer.objects.filter(pk=merged.pk).update(merged_into=survivor)
    client = shopper_client(merged)
    assert client.get("/m/me/").context["profile"].customer_id == survivor.pk


def test_an_erased_customers_session_ends(make_customer, shopper_client):
    from django.utils import timezone

    customer = make_customer()
    client = shopper_client(customer)
    Customer.objects.filter(pk=customer.pk).update(erased_at=timezone.now())
    assert client.get("/m/me/").status_code == 302


# --- WeChat -----------------------------------------------------------------------------------


def wechat_login(client: Client, account: str = "小红", next_url: str = "/m/me/"):
    start = client.get("/m/login/wechat/", {"next": next_url})
    assert start.status_code == 302
    authorize = urlparse(start.url)
    assert authorize.path == "/m/login/wechat/fake-authorize/"
    page = client.get(start.url)
    assert page.status_code == 200
    allowed = client.post(start.url, {"decision": "allow", "account": account})
    assert allowed.status_code == 302
    return client.get(allowed.url), parse_qs(authorize.query)


def test_wechat_login_creates_a_customer_with_openid_and_unionid(settings):
    settings.SIYU_WECHAT_OAUTH = "fake"
    client = Client()
    done, query = wechat_login(client)
    assert done.status_code == 302 and done.url == "/m/me/"
    customer = Customer.objects.get()
    kinds = set(Identity.objects.filter(customer=customer).values_list("kind", flat=True))
    assert kinds == {"openid", "unionid"} and customer.source == "mall"
    assert query["redirect_uri"][0].endswith("/m/login/wechat/callback/")
    # the same WeChat account logs in as the same customer
    wechat_login(Client())
    assert Customer.objects.count() == 1


def test_wechat_callback_with_a_foreign_state_is_refused(settings):
    settings.SIYU_WECHAT_OAUTH = "fake"
    victim_flow = Client()
    start = victim_flow.get("/m/login/wechat/")
    allowed = victim_flow.post(start.url, {"decision": "allow", "account": "attacker"})
    # the callback URL is replayed in another browser that never started a login
    response = Client().get(allowed.url)
    assert response.status_code == 302 and response.url == "/m/login/"
    assert Customer.objects.count() == 0


def test_refusing_on_wechat_returns_to_the_login_page(settings):
    settings.SIYU_WECHAT_OAUTH = "fake"
    client = Client()
    start = client.get("/m/login/wechat/")
    refused = client.post(start.url, {"decision": "deny"})
    assert client.get(refused.url).url == "/m/login/"
    assert Customer.objects.count() == 0


def test_wechat_button_hidden_and_fake_page_gone_when_off(settings):
    settings.SIYU_WECHAT_OAUTH = ""
    client = Client()
    assert b"wechat-login" not in client.get("/m/login/").content
    assert client.get("/m/login/wechat/fake-authorize/").status_code == 404


def test_outbox_holds_nothing_but_codes_texted_here():
    Client().post("/m/login/code/", {"phone": PHONE})
    (message,) = ConsoleSmsAdapter.outbox()
    assert message.phone == PHONE and message.template == "login_code"


def test_a_phone_shopper_who_authorises_wechat_gets_the_openid_on_their_record(settings):
    settings.SIYU_WECHAT_OAUTH = "fake"
    client = Client()
    phone_login(client)
    customer = Customer.objects.get()
    wechat_login(client, account="林小雨的微信")
    assert Customer.objects.count() == 1
    kinds = set(Identity.objects.filter(customer=customer).values_list("kind", flat=True))
    assert kinds == {"phone", "openid", "unionid"}
    assert client.get("/m/me/").context["profile"].customer_id == customer.pk
