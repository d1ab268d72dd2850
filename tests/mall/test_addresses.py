"""The address book: encrypted at rest, one default, and only ever the shopper's own."""

from __future__ import annotations

import pytest
from django.db import connection

from siyu.core.access import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.mall import services
from siyu.mall.models import Address

pytestmark = pytest.mark.django_db


def address(**changes) -> services.AddressInput:
    values = {
        "receiver_name": "林小雨",
        "receiver_phone": "13800138000",
        "province": "上海市",
        "city": "上海市",
        "district": "静安区",
        "detail": "南京西路1515号 12楼",
    }
    values.update(changes)
    return services.AddressInput(**values)


@pytest.fixture
def alice(make_customer):
    return make_customer("13911110000", "Alice")


@pytest.fixture
def bob(make_customer):
    return make_customer("13922220000", "Bob")


def as_actor(customer) -> Actor:
    return Actor.for_customer(customer.pk)


def test_names_phones_and_streets_are_encrypted_at_rest(alice):
    saved = services.save_address(address(), actor=as_actor(alice))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT receiver_name, receiver_phone, detail, province FROM mall_address WHERE id = %s",
            [saved.pk],
        )
        name, phone, detail, province = cursor.fetchone()
    assert "林小雨" not in name and "13800138000" not in phone and "南京西路" not in detail
    assert province == "上海市"
    assert Address.objects.get().receiver_phone == "13800138000"


def test_the_first_address_is_the_default_and_a_new_default_replaces_it(alice):
    me = as_actor(alice)
    first = services.save_address(address(), actor=me)
    second = services.save_address(address(detail="淮海中路 99 号"), actor=me)
    assert services.default_address(actor=me) == first
    services.save_address(address(detail="延安西路 1 号", is_default=True), actor=me)
    defaults = Address.objects.filter(customer=alice, is_default=True)
    assert defaults.count() == 1 and defaults.get().detail == "延安西路 1 号"
    services.set_default_address(second.pk, actor=me)
    assert services.default_address(actor=me) == second
    services.delete_address(second.pk, actor=me)
    assert Address.objects.filter(customer=alice, is_default=True).count() == 1


def test_bad_input_names_each_field(alice):
    with pytest.raises(ValidationFailed) as err:
        services.save_address(
            address(receiver_name="", receiver_phone="138****0000", city="", detail="x"),
            actor=as_actor(alice),
        )
    assert set(err.value.fields) == {"receiver_name", "receiver_phone", "city", "detail"}


def test_a_shopper_cannot_read_change_or_delete_another_shoppers_address(alice, bob):
    hers = services.save_address(address(), actor=as_actor(alice))
    assert services.list_addresses(actor=as_actor(bob)) == []
    for attempt in (
        lambda: services.get_address(hers.pk, actor=as_actor(bob)),
        lambda: services.save_address(address(), actor=as_actor(bob), address_id=hers.pk),
        lambda: services.delete_address(hers.pk, actor=as_actor(bob)),
        lambda: services.set_default_address(hers.pk, actor=as_actor(bob)),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert Address.objects.get(pk=hers.pk).detail == "南京西路1515号 12楼"


def test_staff_and_anonymous_actors_have_no_address_book(alice, operator):
    with pytest.raises(PermissionDenied):
        services.list_addresses(actor=Actor.for_user(operator))
    with pytest.raises(PermissionDenied):
        services.save_address(address(), actor=Actor.anonymous())


def test_address_pages_only_show_and_change_ones_own(alice, bob, shopper_client):
    hers = services.save_address(address(), actor=as_actor(alice))
    alice_client, bob_client = shopper_client(alice), shopper_client(bob)
    page = alice_client.get("/m/me/addresses/").content.decode()
    assert "林小雨" in page and "138****8000" in page
    assert "林小雨" not in bob_client.get("/m/me/addresses/").content.decode()
    assert bob_client.get(f"/m/me/addresses/{hers.pk}/").status_code == 404
    assert bob_client.post(f"/m/me/addresses/{hers.pk}/delete/").status_code == 404
    assert Address.objects.filter(pk=hers.pk).exists()


def test_address_form_saves_and_returns_to_checkout_with_the_new_address(alice, shopper_client):
    client = shopper_client(alice)
    response = client.post(
        "/m/me/addresses/new/",
        {**address().__dict__, "is_default": "on", "next": "/m/checkout/"},
    )
    saved = Address.objects.get()
    assert response.status_code == 302 and response.url == f"/m/checkout/?address={saved.pk}"
    invalid = client.post("/m/me/addresses/new/", {**address(receiver_phone="1").__dict__})
    assert invalid.status_code == 422 and "receiver_phone" in invalid.context["errors"]


def test_address_api_is_scoped_to_the_shopper(alice, bob, shopper_client):
    alice_client, bob_client = shopper_client(alice), shopper_client(bob)
    created = alice_client.post(
        "/api/v1/mall/addresses", address().__dict__, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    address_id = created.json()["id"]
    assert created.json()["receiver_name"] == "林小雨" and created.json()["is_default"]
    assert bob_client.get("/api/v1/mall/addresses").json() == []
    assert bob_client.get(f"/api/v1/mall/addresses/{address_id}").status_code == 404
    assert bob_client.delete(f"/api/v1/mall/addresses/{address_id}").status_code == 404
    assert alice_client.get(f"/api/v1/mall/addresses/{address_id}").status_code == 200
    from django.test import Client

    anonymous = Client().get("/api/v1/mall/addresses")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"


def test_api_login_with_a_code_sets_a_shopper_session(db):
    from django.test import Client

    from .conftest import code_for

    client = Client()
    sent = client.post(
        "/api/v1/mall/login/code", {"phone": "13933330000"}, content_type="application/json"
    )
    assert sent.json() == {"phone_masked": "139****0000", "expires_in": 300, "resend_in": 60}
    again = client.post(
        "/api/v1/mall/login/code", {"phone": "13933330000"}, content_type="application/json"
    )
    assert again.status_code == 429 and again.json()["error"]["code"] == "too_many_requests"
    login = client.post(
        "/api/v1/mall/login",
        {"phone": "13933330000", "code": code_for("13933330000")},
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    assert client.get("/api/v1/mall/me").json()["phone_masked"] == "139****0000"
    assert client.get("/m/me/").status_code == 200  # the pages share the session
    assert client.post("/api/v1/mall/logout").status_code == 204
    assert client.get("/api/v1/mall/me").status_code == 401
