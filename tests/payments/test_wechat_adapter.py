"""The WeChat Pay API v3 adapter against a local fake WeChat Pay (self-made keys, signed responses,
signed and encrypted notifications), in WeChat-Pay-public-key and platform-certificate modes."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from siyu.core.access import Actor
from siyu.payments import services
from siyu.payments import wechat_wire as wire
from siyu.payments.errors import ProviderError, ProviderUnavailable
from siyu.payments.models import NotificationLog, Payment, Refund
from siyu.payments.providers import get_provider
from siyu.payments.states import NotificationStatus, PaymentStatus, RefundStatus

from .conftest import post_notification

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
def shopper(customer):
    return Actor.for_customer(customer.pk)


def _start(order, shopper, method="jsapi", **kwargs):
    return services.start_payment(order.pk, method=method, actor=shopper, openid=OPENID, **kwargs)


def test_jsapi_prepay_gives_signed_parameters_for_wx_request_payment(wechat, make_order, shopper):
    order = make_order(12900)
    start = _start(order, shopper)
    sent = json.loads(wechat.requests[-1]["body"])
    assert wechat.requests[-1]["path"] == "/v3/pay/transactions/jsapi"
    assert sent["amount"] == {"total": 12900, "currency": "CNY"}
    assert sent["payer"] == {"openid": OPENID}
    assert sent["out_trade_no"] == start.payment.out_trade_no
    assert sent["notify_url"].endswith("/m/payments/notify/wechat/")
    assert sent["time_expire"].endswith("+08:00")
    params = start.launch.jsapi_params
    assert params["appId"] == wechat.appid and params["signType"] == "RSA"
    assert params["package"] == f"prepay_id={wechat.trades[sent['out_trade_no']]['prepay_id']}"
    message = "".join(
        f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")
    ).encode()
    wechat.merchant_key.public_key().verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )
    assert Payment.objects.get().prepay_id.startswith("wx")


def test_h5_payment_sends_the_shopper_to_wechats_page_and_back_to_our_result_page(
    wechat, make_order, shopper
):
    order = make_order(500)
    start = _start(
        order,
        shopper,
        method="h5",
        client_ip="203.0.113.7",
        landing_url="https://shop.example.com/m/payments/result/{out_trade_no}/",
    )
    sent = json.loads(wechat.requests[-1]["body"])
    assert wechat.requests[-1]["path"] == "/v3/pay/transactions/h5"
    assert sent["scene_info"] == {"payer_client_ip": "203.0.113.7", "h5_info": {"type": "Wap"}}
    assert start.launch.h5_url.startswith("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb")
    back = unquote(start.launch.redirect_url.split("&redirect_url=")[1])
    assert back == f"https://shop.example.com/m/payments/result/{start.payment.out_trade_no}/"


def test_query_and_close_round_trips(wechat, make_order, shopper):
    provider = get_provider("wechat")
    paid = _start(make_order(100), shopper).payment
    wechat.pay(paid.out_trade_no)
    result = provider.query_payment(paid.out_trade_no)
    assert (result.state, result.amount_fen, result.transaction_id[:5]) == ("SUCCESS", 100, "42000")
    assert "payer" not in result.raw
    with pytest.raises(ProviderError) as err:
        provider.close_payment(paid.out_trade_no)
    assert err.value.provider_code == "ORDERPAID" and not err.value.transient

    unpaid = _start(make_order(200), shopper).payment
    provider.close_payment(unpaid.out_trade_no)  # 204, signature of the empty body verified
    assert provider.query_payment(unpaid.out_trade_no).state == "CLOSED"
    assert provider.query_payment("P-never-created") is None


def test_refund_and_refund_query_round_trips(wechat, make_order, shopper):
    provider = get_provider("wechat")
    payment = _start(make_order(3000), shopper).payment
    trade = wechat.pay(payment.out_trade_no)
    kwargs = dict(
        out_trade_no=payment.out_trade_no,
        transaction_id=trade["transaction_id"],
        out_refund_no="RRF-1",
        amount_fen=1000,
        total_fen=3000,
        reason="尺码不合适",
    )
    first = provider.refund(**kwargs)
    assert (first.status, first.amount_fen, first.total_fen) == ("PROCESSING", 1000, 3000)
    sent = json.loads(wechat.requests[-1]["body"])
    assert sent["transaction_id"] == trade["transaction_id"] and sent["reason"] == "尺码不合适"
    again = provider.refund(**kwargs)  # the same out_refund_no is the same refund
    assert again.refund_id == first.refund_id and len(wechat.refunds) == 1
    assert provider.query_refund("RRF-1").status == "PROCESSING"
    wechat.settle_refund("RRF-1")
    done = provider.query_refund("RRF-1")
    assert done.status == "SUCCESS" and done.success_time is not None
    assert provider.query_refund("R-unknown") is None


def test_wechat_error_codes_decide_what_is_retried(wechat_pk, make_order, shopper):
    provider = get_provider("wechat")
    payment = _start(make_order(100), shopper).payment
    cases = [
        ((500, "SYSTEM_ERROR", "系统繁忙"), True),
        ((429, "FREQUENCY_LIMITED", "频率超限"), True),
        ((403, "NOT_ENOUGH", "基本账户余额不足"), True),
        ((400, "INVALID_REQUEST", "参数错误"), False),
        ((403, "NO_AUTH", "商户无权限"), False),
    ]
    for failure, transient in cases:
        wechat_pk.fail_next.append(failure)
        with pytest.raises(ProviderError) as err:
            provider.query_payment(payment.out_trade_no)
        assert (err.value.provider_code, err.value.transient) == (failure[1], transient)


def test_a_response_whose_signature_does_not_verify_is_not_trusted(wechat_pk, make_order, shopper):
    provider = get_provider("wechat")
    payment = _start(make_order(100), shopper).payment
    wechat_pk.pay(payment.out_trade_no)
    wechat_pk.platform_keys[-1] = wire.generate_key()  # an impostor answers
    with pytest.raises(ProviderUnavailable) as err:
        provider.query_payment(payment.out_trade_no)
    assert err.value.provider_code == "RESPONSE_SIGNATURE"


# --- notifications ---------------------------------------------------------------------------------


@pytest.fixture
def pending(wechat, make_order, shopper):
    order = make_order(12900)
    payment = _start(order, shopper).payment
    wechat.pay(payment.out_trade_no)
    return order, payment


def _fail_body(response) -> dict:
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def _unchanged(order, payment, published):
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and not payment.transaction_id
    assert order.status == "pending_payment"
    assert published.payments == []


def test_a_genuine_payment_notification_marks_the_order_paid(client, wechat, pending, published):
    order, payment = pending
    headers, body = wechat.payment_notification(payment.out_trade_no, event_id="EV-0001")
    response = post_notification(client, "wechat", headers, body)
    assert response.status_code == 204 and response.content == b""
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and order.status == "paid"
    assert payment.transaction_id == wechat.trades[payment.out_trade_no]["transaction_id"]
    log = NotificationLog.objects.get()
    assert (log.notification_id, log.status, log.serial) == ("EV-0001", "processed", wechat.serial)
    assert log.payment_id == payment.pk and log.signed_at is not None

    # WeChat Pay retries (fresh signature) and an attacker replays the same request: both harmless.
    again_headers, again_body = wechat.payment_notification(
        payment.out_trade_no, event_id="EV-0001"
    )
    assert post_notification(client, "wechat", again_headers, again_body).status_code == 204
    assert post_notification(client, "wechat", headers, body).status_code == 204
    assert len(published.payments) == 1
    assert list(NotificationLog.objects.values_list("status", flat=True).order_by("id")) == [
        "processed",
        "duplicate",
        "duplicate",
    ]


def test_a_notification_signed_with_another_key_is_refused(client, wechat, pending, published):
    order, payment = pending
    headers, body = wechat.payment_notification(payment.out_trade_no)
    forged = wechat.sign(body, key=wire.generate_key())
    response = post_notification(client, "wechat", forged, body)
    assert response.status_code == 401
    assert _fail_body(response) == {"code": "FAIL", "message": "signature verification failed"}
    _unchanged(order, payment, published)
    log = NotificationLog.objects.get()
    assert (log.status, log.reason, log.http_status) == ("rejected", "bad_signature", 401)


def test_a_tampered_ciphertext_is_refused(client, wechat, pending, published):
    order, payment = pending
    headers, body = wechat.payment_notification(payment.out_trade_no)
    data = json.loads(body)
    raw = bytearray(base64.b64decode(data["resource"]["ciphertext"]))
    raw[10] ^= 0x01
    data["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    tampered = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # on the wire: the signature no longer matches the body
    response = post_notification(client, "wechat", headers, tampered)
    assert response.status_code == 401 and _fail_body(response)["code"] == "FAIL"
    # even validly signed (a compromised signer), the ciphertext fails its GCM tag
    response = post_notification(client, "wechat", wechat.sign(tampered), tampered)
    assert response.status_code == 400 and _fail_body(response)["code"] == "FAIL"
    _unchanged(order, payment, published)
    assert list(NotificationLog.objects.values_list("reason", flat=True).order_by("id")) == [
        "bad_signature",
        "decrypt_failed",
    ]


def test_a_notification_for_the_wrong_amount_changes_nothing(client, wechat, pending, published):
    order, payment = pending
    resource = wechat.trade_payload(wechat.trades[payment.out_trade_no])
    resource["amount"]["total"] = 1  # the shopper paid one fen for a ¥129 order
    headers, body = wechat.notification(resource)
    response = post_notification(client, "wechat", headers, body)
    assert response.status_code == 400 and _fail_body(response)["code"] == "FAIL"
    _unchanged(order, payment, published)
    log = NotificationLog.objects.get()
    assert (log.status, log.reason, log.payment_id) == ("rejected", "amount_mismatch", payment.pk)


def test_a_notification_signed_more_than_five_minutes_ago_is_a_replay(
    client, wechat, pending, published
):
    order, payment = pending
    headers, body = wechat.payment_notification(
        payment.out_trade_no, timestamp=int(time.time()) - 301
    )
    response = post_notification(client, "wechat", headers, body)
    assert response.status_code == 400 and _fail_body(response)["code"] == "FAIL"
    _unchanged(order, payment, published)
    log = NotificationLog.objects.get()
    assert (log.status, log.reason) == ("rejected", "stale")
    assert log.notification_id  # what it claimed to be is kept for the investigation


def test_a_notification_about_an_unknown_order_changes_nothing(client, wechat, pending, published):
    order, payment = pending
    resource = wechat.trade_payload(wechat.trades[payment.out_trade_no])
    resource["out_trade_no"] = "P-not-ours-0001"
    headers, body = wechat.notification(resource)
    response = post_notification(client, "wechat", headers, body)
    assert response.status_code == 404 and _fail_body(response)["code"] == "FAIL"
    _unchanged(order, payment, published)
    assert NotificationLog.objects.get().reason == "unknown_order"


def test_out_of_order_refund_notices_change_nothing(
    client, wechat, pending, published, committed, work
):
    order, payment = pending
    headers, body = wechat.payment_notification(payment.out_trade_no)
    post_notification(client, "wechat", headers, body)
    # A refund notice for a refund we never asked for (made by hand in the merchant platform?)
    wechat.refunds["R-by-hand"] = {
        "refund_id": "50x",
        "out_refund_no": "R-by-hand",
        "transaction_id": wechat.trades[payment.out_trade_no]["transaction_id"],
        "out_trade_no": payment.out_trade_no,
        "status": "SUCCESS",
        "amount": {"refund": 100, "total": 12900},
        "create_time": "2026-01-01T00:00:00+08:00",
    }
    response = post_notification(client, "wechat", *wechat.refund_notification("R-by-hand"))
    assert response.status_code == 404 and _fail_body(response)["code"] == "FAIL"
    assert not Refund.objects.exists()

    # Our refund succeeds; then a stale CLOSED notice for it arrives late.
    from django.db import transaction

    from siyu.core import events
    from siyu.orders.events import RefundRequested

    with committed(), transaction.atomic():
        events.publish(RefundRequested(order.pk, order.customer_id, "RF-9", 2900, "破损"))
    work()
    refund = Refund.objects.get()
    wechat.settle_refund(refund.out_refund_no)
    ok = post_notification(client, "wechat", *wechat.refund_notification(refund.out_refund_no))
    assert ok.status_code == 204
    wechat.refunds[refund.out_refund_no]["status"] = "CLOSED"
    late = post_notification(client, "wechat", *wechat.refund_notification(refund.out_refund_no))
    assert late.status_code == 204  # acknowledged, so WeChat stops resending it
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and payment.refunded_fen == 2900
    assert len(published.refunds) == 1 and published.refund_failures == []
    reasons = list(
        NotificationLog.objects.filter(kind="refund").values_list("status", "reason").order_by("id")
    )
    assert reasons == [
        ("rejected", "unknown_refund"),
        ("processed", ""),
        ("ignored", "out_of_order"),
    ]


def test_platform_certificate_rotation_is_followed(
    client, wechat_cert, make_order, shopper, published
):
    wechat = wechat_cert
    payment = _start(make_order(100), shopper).payment
    wechat.pay(payment.out_trade_no)
    wechat.rotate_certificate()  # WeChat Pay signs with a certificate we have never seen
    headers, body = wechat.payment_notification(payment.out_trade_no)
    assert post_notification(client, "wechat", headers, body).status_code == 204
    assert (wechat.cert_dir / f"{wechat.serial}.pem").exists()  # the SDK fetched and kept it
    assert any(r["path"] == "/v3/certificates" for r in wechat.requests)
    assert len(published.payments) == 1


def test_reconciliation_asks_wechat_pay_when_no_notification_comes(wechat, pending, published):
    from datetime import timedelta

    from django.utils import timezone

    order, payment = pending
    report = services.reconcile(now=timezone.now() + timedelta(minutes=6))
    assert report.payments_changed == 1
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and order.status == "paid"
    assert NotificationLog.objects.count() == 0
    assert payment.history.last().actor_label == "reconciliation"


def test_a_notification_without_wechat_headers_is_refused(client, db, wechat_pk):
    response = post_notification(client, "wechat", {}, "{}")
    assert response.status_code == 400
    assert NotificationLog.objects.get().reason == "missing_headers"
    assert NotificationLog.objects.get().status == NotificationStatus.REJECTED


def test_configuration_checks_name_what_is_missing(settings, tmp_path):
    from siyu.payments.checks import check_payment_provider

    settings.SIYU_PAYMENT_PROVIDER = "wechat"
    settings.SIYU_WECHATPAY_MCHID = ""
    assert [p.id for p in check_payment_provider()] == ["payments.E003"]
    settings.SIYU_PAYMENT_PROVIDER = "dev"
    settings.SIYU_DEV_PAY_ALLOWED = False
    assert [p.id for p in check_payment_provider()] == ["payments.W002"]


def test_a_complete_wechat_configuration_passes_the_checks(wechat_pk):
    from siyu.payments.checks import check_payment_provider

    assert check_payment_provider() == []


def test_old_notifications_that_changed_nothing_are_pruned(client, wechat, pending, published):
    from datetime import timedelta

    from django.utils import timezone

    from siyu.payments.services import prune_notification_log

    order, payment = pending
    headers, body = wechat.payment_notification(payment.out_trade_no)
    post_notification(client, "wechat", headers, body)  # processed
    post_notification(client, "wechat", headers, body)  # duplicate
    post_notification(client, "wechat", wechat.sign(body, key=wire.generate_key()), body)
    assert prune_notification_log() == 0  # nothing is old yet
    later = timezone.now() + timedelta(days=181)
    assert prune_notification_log(now=later) == 2
    assert list(NotificationLog.objects.values_list("status", flat=True)) == ["processed"]
