"""Personal data other apps keep follows the customer: the address book and payments move with a
merge, the address book goes with an erasure, and both are in the PIPL export."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.customers.services import (
    ContactInput,
    erase_customer,
    export_personal_data,
    merge_customers,
    register_contact,
)
from siyu.mall import services as mall
from siyu.mall.models import Address
from siyu.payments.models import Payment
from tests.commerce import pay, place, product, sku_of

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")


def add_address(customer, detail: str, phone: str = "13800138000"):
    return mall.save_address(
        mall.AddressInput(
            receiver_name="林小雨",
            receiver_phone=phone,
            province="上海市",
            city="上海市",
            district="静安区",
            detail=detail,
        ),
        actor=Actor.for_customer(customer.pk),
    )


def registered(phone: str, name: str):
    return register_contact(
        ContactInput(source="mall", phone=phone, name=name), actor=SYSTEM
    ).customer


@pytest.fixture
def alice():
    return registered("13911110000", "Alice")


@pytest.fixture
def alice_again():
    return registered("13911119999", "Alice W.")


def test_a_merge_moves_the_address_book_and_keeps_one_default(alice, alice_again):
    add_address(alice, "南京西路1515号")
    add_address(alice_again, "淮海中路999号")
    merge_customers(alice.pk, alice_again.pk, actor=SYSTEM)
    book = Address.objects.filter(customer=alice)
    assert sorted(a.detail for a in book) == ["南京西路1515号", "淮海中路999号"]
    assert [a.detail for a in book if a.is_default] == ["南京西路1515号"]


def test_an_erasure_deletes_the_address_book(alice):
    add_address(alice, "南京西路1515号")
    erase_customer(alice.pk, actor=SYSTEM, reason="PIPL request")
    assert not Address.objects.filter(customer=alice).exists()


def test_the_export_holds_addresses_and_payments_decrypted(alice, owner):
    add_address(alice, "南京西路1515号")
    sku = sku_of(product(stock=5))
    order = pay(place(alice, [(sku, 1)]))
    data = export_personal_data(alice.pk, actor=Actor.for_user(owner))
    assert data["addresses"][0]["detail"] == "南京西路1515号"
    assert data["addresses"][0]["receiver_phone"] == "13800138000"
    assert [p["order_number"] for p in data["payments"]] == [order.number]
    assert data["payments"][0]["amount_fen"] == order.payable_fen


def test_a_merge_moves_payments_with_their_orders(alice, alice_again):
    sku = sku_of(product(stock=5))
    pay(place(alice_again, [(sku, 1)]))
    merge_customers(alice.pk, alice_again.pk, actor=SYSTEM)
    assert Payment.objects.get().customer_id == alice.pk
