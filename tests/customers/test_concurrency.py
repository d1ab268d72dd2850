"""Two sign-ups of the same person at the same moment still make one customer (PostgreSQL)."""

import threading

import pytest
from django.db import connection

from siyu.core.access import Actor
from siyu.customers.models import Customer, Identity
from siyu.customers.services import ContactInput, register_contact

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_simultaneous_sign_ups_with_one_phone_make_one_customer():
    barrier = threading.Barrier(4)
    results, errors = [], []

    def sign_up(n: int) -> None:
        try:
            barrier.wait()
            reg = register_contact(
                ContactInput(phone="13912345678", source="mall", touch_ref=f"h5-{n}"),
                actor=Actor.system("test"),
            )
            results.append(reg.customer.pk)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert Customer.objects.count() == 1
    assert Identity.objects.count() == 1
    assert Customer.objects.get().touches.count() == 4
