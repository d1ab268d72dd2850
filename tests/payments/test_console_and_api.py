"""Console pages and API for payments: lists with filters, detail with history and notifications,
"query provider now", and who may see or do what."""

from __future__ import annotations

import pytest

from siyu.core.access import Actor
from siyu.core.models import AuditEntry
from siyu.payments import devpay, services
from siyu.payments.models import DevTrade, NotificationLog, Payment
from siyu.payments.states import PaymentStatus


@pytest.fixture
def pending_payment(make_order, customer):
    order = make_order(4500)
    return services.start_payment(
        order.pk, method="h5", actor=Actor.for_customer(customer.pk)
    ).payment


@pytest.fixture
def paid_elsewhere(pending_payment, published):
    """Paid at the provider, but its notification has not come."""
    devpay.pay(DevTrade.objects.get(out_trade_no=pending_payment.out_trade_no).prepay_id)
    return pending_payment


def test_operators_and_analysts_see_payments_clerks_do_not(
    console_client, operator, analyst, clerk, pending_payment
):
    page = console_client(analyst).get("/console/payments/")
    assert page.status_code == 200
    html = page.content.decode()
    assert pending_payment.out_trade_no in html and "¥45.00" in html
    assert console_client(operator).get("/console/payments/refunds/").status_code == 200
    assert console_client(clerk).get("/console/payments/").status_code == 403
    assert console_client(clerk).get(f"/console/payments/{pending_payment.pk}/").status_code == 403


def test_the_list_filters_by_status_method_and_number(
    console_client, operator, make_order, customer
):
    shopper = Actor.for_customer(customer.pk)
    h5 = services.start_payment(make_order().pk, method="h5", actor=shopper).payment
    jsapi = services.start_payment(make_order().pk, method="jsapi", actor=shopper).payment
    client = console_client(operator)

    def listed(query: str) -> set[str]:
        html = client.get(f"/console/payments/?{query}").content.decode()
        return {p.out_trade_no for p in (h5, jsapi) if p.out_trade_no in html}

    assert listed("method=jsapi") == {jsapi.out_trade_no}
    assert listed(f"q={h5.order.number}") == {h5.out_trade_no}
    assert listed(f"q={jsapi.out_trade_no}") == {jsapi.out_trade_no}
    assert listed("status=succeeded") == set()
    assert listed("status=pending&provider=dev") == {h5.out_trade_no, jsapi.out_trade_no}


def test_query_provider_now_applies_a_payment_whose_notification_is_missing(
    console_client, operator, paid_elsewhere
):
    client = console_client(operator)
    detail = client.get(f"/console/payments/{paid_elsewhere.pk}/").content.decode()
    assert 'data-testid="query-provider"' in detail
    response = client.post(f"/console/payments/{paid_elsewhere.pk}/sync/", follow=True)
    assert response.status_code == 200
    paid_elsewhere.refresh_from_db()
    assert paid_elsewhere.status == PaymentStatus.SUCCEEDED
    html = response.content.decode()
    assert 'data-testid="payment-status"' in html and "operator" in html  # history shows who asked
    assert AuditEntry.objects.filter(action="payments.queried", actor_label="operator").exists()


def test_analysts_cannot_query_the_provider(console_client, analyst, paid_elsewhere):
    client = console_client(analyst)
    assert (
        'data-testid="query-provider"'
        not in client.get(f"/console/payments/{paid_elsewhere.pk}/").content.decode()
    )
    assert client.post(f"/console/payments/{paid_elsewhere.pk}/sync/").status_code == 403
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_the_payment_page_lists_the_notifications_received(
    console_client, operator, client, paid_elsewhere, published
):
    from .conftest import post_notification

    note = devpay.DevNotification.objects.get()
    headers, body = devpay.signed_notification(note)
    post_notification(client, "dev", headers, body)
    post_notification(client, "dev", headers, body.replace('"ciphertext":"', '"ciphertext":"A', 1))
    html = console_client(operator).get(f"/console/payments/{paid_elsewhere.pk}/").content.decode()
    assert note.event_id in html and "TRANSACTION.SUCCESS" in html
    log_page = console_client(operator).get("/console/payments/notifications/?status=rejected")
    assert "bad_signature" in log_page.content.decode()
    entry = NotificationLog.objects.get(status="processed")
    detail = console_client(operator).get(f"/console/payments/notifications/{entry.pk}/")
    assert 'data-testid="resource"' in detail.content.decode()


def test_customer_names_are_masked_for_roles_without_the_pii_right(
    console_client, analyst, pending_payment
):
    html = console_client(analyst).get(f"/console/payments/{pending_payment.pk}/").content.decode()
    assert "林小满" not in html and "林**" in html


def test_the_overview_shows_collections_and_waiting_payments(
    console_client, operator, pending_payment
):
    html = console_client(operator).get("/console/").content.decode()
    assert "/console/payments/?status=pending" in html


def test_the_api_lists_reads_and_syncs_payments(api_client, operator, clerk, paid_elsewhere):
    api = api_client(operator)
    listing = api.get("/api/v1/payments/?status=pending").json()
    assert [p["out_trade_no"] for p in listing["items"]] == [paid_elsewhere.out_trade_no]
    detail = api.get(f"/api/v1/payments/{paid_elsewhere.pk}").json()
    assert detail["history"][0]["to_status"] == "pending" and detail["refunds"] == []
    synced = api.post(f"/api/v1/payments/{paid_elsewhere.pk}/sync").json()
    assert synced["outcome"] == "processed" and synced["payment"]["status"] == "succeeded"
    denied = api_client(clerk).get("/api/v1/payments/")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    assert api.get("/api/v1/payments/refunds/").json()["items"] == []
