"""Fixtures for the H5 mall: a clean SMS outbox, shoppers, and a logged-in shopper client."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.mall.sms import ConsoleSmsAdapter


@pytest.fixture(autouse=True)
def _clean_outbox():
    ConsoleSmsAdapter.clear()
    yield
    ConsoleSmsAdapter.clear()


@pytest.fixture
def make_customer(db):
    """make_customer(phone) -> a customer registered through the customers service."""
    from siyu.customers.services import ContactInput, register_contact

    def make(phone: str = "13800138000", name: str = "") -> object:
        return register_contact(
            ContactInput(source="mall", phone=phone, name=name), actor=Actor.system("test")
        ).customer

    return make


@pytest.fixture
def shopper_client(db):
    """shopper_client(customer) -> a test client whose shopper session belongs to that customer."""
    from importlib import import_module

    from django.conf import settings
    from django.test import Client

    def make(customer) -> Client:
        client = Client()
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store["customer_id"] = customer.pk
        store.save()
        client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE] = store.session_key
        return client

    return make


def code_for(phone: str) -> str:
    code = ConsoleSmsAdapter.last_code_for(phone)
    assert code is not None, f"no code was texted to {phone}"
    return code
