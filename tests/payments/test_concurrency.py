"""Exactly-once under real concurrency (PostgreSQL, real threads): a storm of replayed, duplicated
and tampered notifications pays each order once and publishes PaymentSucceeded once per payment."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from siyu.core import events
from siyu.core.access import Actor
from siyu.payments import devpay, services
from siyu.payments import wechat_wire as wire
from siyu.payments.events import PaymentSucceeded
from siyu.payments.models import DevNotification, DevTrade, NotificationLog, Payment
from siyu.payments.states import PaymentStatus

from .conftest import post_notification

ORDERS = 50


def _signed(body: str, *, timestamp=None, key=None) -> dict:
    keys = devpay.keys()
    return wire.signed_headers(
        key or keys.platform_key, keys.public_key_id, body, timestamp=timestamp
    )


def _body(note: DevNotification, resource: dict | None = None) -> str:
    return wire.notification_body(
        event_id=note.event_id,
        event_type=note.event_type,
        summary=note.summary,
        original_type=note.original_type,
        resource=resource or note.resource,
        apiv3_key=devpay.apiv3_key(),
    )


def _storm(notes: list[DevNotification], rng: random.Random) -> list[tuple[str, dict, str]]:
    """1,000 requests: (expected kind, headers, body)."""
    impostor = wire.generate_key()
    requests = []
    for note in notes:
        body = _body(note)
        # WeChat Pay's own retries: the same notification id, freshly signed each time
        requests += [("genuine", _signed(body), body) for _ in range(8)]
        # an attacker replaying one captured request verbatim
        captured = _signed(body)
        requests += [("genuine", captured, body) for _ in range(4)]
        for _ in range(2):
            data = json.loads(body)
            raw = bytearray(base64.b64decode(data["resource"]["ciphertext"]))
            raw[rng.randrange(len(raw))] ^= 0x20
            data["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
            tampered = json.dumps(data, separators=(",", ":"))
            requests.append(("bad_signature", _signed(body), tampered))
            cheap = dict(note.resource, amount={**note.resource["amount"], "total": 1})
            cheap_body = _body(note, cheap)
            requests.append(("amount_mismatch", _signed(cheap_body), cheap_body))
            requests.append(("stale", _signed(body, timestamp=int(time.time()) - 400), body))
        unknown = dict(
            note.resource, out_trade_no="P" + note.resource["out_trade_no"][1:-4] + "ZZZZ"
        )
        unknown_body = _body(note, unknown)
        requests.append(("unknown_order", _signed(unknown_body), unknown_body))
        requests.append(("bad_signature", _signed(body, key=impostor), body))
    rng.shuffle(requests)
    return requests


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_thousand_replayed_duplicated_and_tampered_notifications_pay_each_order_once(
    make_order, customer, published
):
    from django.test import Client

    shopper = Actor.for_customer(customer.pk)
    payments = []
    for _ in range(ORDERS):
        order = make_order(9900)
        payments.append(services.start_payment(order.pk, method="h5", actor=shopper).payment)
    for payment in payments:
        devpay.pay(DevTrade.objects.get(out_trade_no=payment.out_trade_no).prepay_id)
    notes = list(DevNotification.objects.order_by("id"))
    requests = _storm(notes, random.Random(2026))
    assert len(requests) == 1000

    published_ids: list[int] = []
    lock = threading.Lock()

    def count(event: PaymentSucceeded) -> None:
        with lock:
            published_ids.append(event.payment_id)

    events._in_tx[PaymentSucceeded].append(count)
    answers: Counter = Counter()
    errors: list[BaseException] = []
    queue = list(enumerate(requests))

    def worker():
        client = Client()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    _, (kind, headers, body) = queue.pop()
                response = post_notification(client, "dev", headers, body)
                with lock:
                    answers[(kind, response.status_code)] += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        events._in_tx[PaymentSucceeded].remove(count)
    elapsed = time.monotonic() - started
    assert not errors, errors

    # each order paid exactly once, each payment announced exactly once
    assert (
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, applied_to_order=True).count()
        == ORDERS
    )
    assert sorted(published_ids) == sorted(p.pk for p in payments)
    from siyu.orders.models import Order

    paid = Order.objects.filter(pk__in=[p.order_id for p in payments])
    assert {(o.status, o.paid_fen) for o in paid} == {("paid", 9900)}
    assert Payment.objects.filter(history__to_status=PaymentStatus.SUCCEEDED).count() == ORDERS
    # every genuine copy was acknowledged; every forged, stale or wrong one refused and logged
    assert answers == Counter(
        {
            ("genuine", 204): ORDERS * 12,
            ("bad_signature", 401): ORDERS * 3,
            ("amount_mismatch", 400): ORDERS * 2,
            ("stale", 400): ORDERS * 2,
            ("unknown_order", 404): ORDERS,
        }
    )
    outcomes = Counter(NotificationLog.objects.values_list("status", "reason"))
    assert outcomes[("processed", "")] == ORDERS
    assert outcomes[("duplicate", "already_applied")] == ORDERS * 11
    assert outcomes[("rejected", "bad_signature")] == ORDERS * 3
    assert outcomes[("rejected", "amount_mismatch")] == ORDERS * 2
    assert outcomes[("rejected", "stale")] == ORDERS * 2
    assert outcomes[("rejected", "unknown_order")] == ORDERS
    assert sum(outcomes.values()) == 1000
    print(f"\n1,000 notifications over 8 threads in {elapsed:.1f} s")
