"""Rotating the personal-data key: everything is readable afterwards, nothing is left under the old
key, and phones and platform ids are still found by their (re-keyed) hashes."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from siyu.core import crypto
from siyu.core.access import Actor
from siyu.customers.models import Customer, Identity, IdentityKind
from siyu.customers.services import (
    ContactInput,
    CustomerFilters,
    register_contact,
    search_customers,
)

pytestmark = pytest.mark.django_db

OLD, NEW = "old-data-key-for-tests-0123456789", "new-data-key-for-tests-9876543210"


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def key_id(ciphertext: str) -> str:
    return ciphertext.split(":")[1]


@pytest.fixture
def customer_under_old_key(settings):
    settings.SIYU_DATA_KEY, settings.SIYU_DATA_KEY_PREVIOUS = OLD, ""
    reg = register_contact(
        ContactInput(
            name="王芳", phone="13812345678", identities={IdentityKind.TMALL: "tb_wangfang"}
        ),
        actor=Actor.system(),
    )
    return reg.customer


def find(q: str) -> list[int]:
    return list(search_customers(Actor.system(), CustomerFilters(q=q)).values_list("pk", flat=True))


def test_rotation_re_encrypts_everything_and_keeps_phones_searchable(
    settings, customer_under_old_key, capsys
):
    old_cipher = raw("customers_customer", "phone", customer_under_old_key.pk)
    settings.SIYU_DATA_KEY, settings.SIYU_DATA_KEY_PREVIOUS = NEW, OLD
    # before rotating, the new key's hashes find nobody: that is why rotation is an offline step
    assert find("13812345678") == []

    call_command("rotate-data-key")

    new_cipher = raw("customers_customer", "phone", customer_under_old_key.pk)
    assert key_id(new_cipher) != key_id(old_cipher)
    assert crypto.is_current(new_cipher)
    assert Customer.objects.get(pk=customer_under_old_key.pk).phone == "13812345678"
    assert find("13812345678") == [customer_under_old_key.pk]
    assert find("tb_wangfang") == [customer_under_old_key.pk]
    assert "0 left under another key" in capsys.readouterr().out

    # the old key can go now
    settings.SIYU_DATA_KEY_PREVIOUS = ""
    identity = Identity.objects.get(customer=customer_under_old_key, kind=IdentityKind.TMALL)
    assert identity.value == "tb_wangfang"


def test_rotating_twice_changes_nothing_the_second_time(settings, customer_under_old_key, capsys):
    settings.SIYU_DATA_KEY, settings.SIYU_DATA_KEY_PREVIOUS = NEW, OLD
    call_command("rotate-data-key")
    first = raw("customers_customer", "phone", customer_under_old_key.pk)
    capsys.readouterr()
    call_command("rotate-data-key")
    assert raw("customers_customer", "phone", customer_under_old_key.pk) == first
    assert "Rotated 0 value(s)" in capsys.readouterr().out
    assert find("13812345678") == [customer_under_old_key.pk]


def test_rotation_without_a_previous_key_refuses_and_says_what_to_set(settings):
    settings.SIYU_DATA_KEY_PREVIOUS = ""
    with pytest.raises(CommandError, match="SIYU_DATA_KEY_PREVIOUS"):
        call_command("rotate-data-key")
