"""Payments fixtures: orders to pay, the events payments published, the dev provider with cached
keys, and the fake WeChat Pay server in both key modes."""

from __future__ import annotations

import itertools

import pytest
from django.test import override_settings

from siyu.core import events
from siyu.payments.events import PaymentSucceeded, RefundFailed, RefundSucceeded

from .fake_wechatpay import FakeWeChatPay

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def dev_key_dir():
    """Generated RSA keys kept between runs (generating them is the slowest thing we do)."""
    from django.conf import settings

    return settings.VAR_DIR / "test-keys"


@pytest.fixture(autouse=True)
def _payment_settings(dev_key_dir, settings):
    settings.SIYU_PAYMENT_PROVIDER = "dev"
    settings.SIYU_DEV_PAY_ALLOWED = True
    settings.SIYU_DEV_PAY_KEY_DIR = str(dev_key_dir)
    settings.SIYU_DEV_PAY_NOTIFY_URL = ""
    settings.SIYU_DEV_PAY_REFUND_SECONDS = 0


@pytest.fixture
def customer(db):
    from siyu.customers.models import Customer

    return Customer.objects.create(name="林小满", source="mall")


@pytest.fixture
def make_order(db, customer):
    from siyu.orders.models import Order, OrderLine

    def make(amount_fen: int = 12900, *, status: str = "pending_payment", buyer=None):
        n = next(_numbers)
        order = Order.objects.create(
            number=f"SO{n:08d}",
            customer=buyer or customer,
            channel="mall",
            status=status,
            goods_amount_fen=amount_fen,
            payable_fen=amount_fen,
        )
        OrderLine.objects.create(
            order=order,
            line_no=1,
            product_title="山茶花保湿精华 30ml",
            quantity=1,
            unit_price_fen=amount_fen,
            amount_fen=amount_fen,
            paid_fen=amount_fen,
        )
        return order

    return make


class Published:
    """Domain events payments published, in order (counted in the publishing transaction)."""

    def __init__(self):
        self.payments: list[PaymentSucceeded] = []
        self.refunds: list[RefundSucceeded] = []
        self.refund_failures: list[RefundFailed] = []

    def record(self, event):
        {
            PaymentSucceeded: self.payments,
            RefundSucceeded: self.refunds,
            RefundFailed: self.refund_failures,
        }[type(event)].append(event)


@pytest.fixture
def published():
    """What payments published (orders' own subscribers mark the orders paid and refunded).
    Recorded in-transaction after orders' handler, so a publication orders refused and rolled
    back is not counted."""
    seen = Published()
    added = []
    for event_type in (PaymentSucceeded, RefundSucceeded, RefundFailed):
        events._in_tx[event_type].append(seen.record)
        added.append((event_type, seen.record))
    yield seen
    for event_type, handler in added:
        events._in_tx[event_type].remove(handler)


# --- the fake WeChat Pay ---------------------------------------------------------------------------


@pytest.fixture(params=["public_key", "certificate"], ids=["public-key", "platform-cert"])
def wechat(request, tmp_path, settings):
    """The WeChat Pay adapter configured against a fake WeChat Pay, in both key modes."""
    yield from _wechat(request.param, tmp_path, settings)


@pytest.fixture
def wechat_pk(tmp_path, settings):
    yield from _wechat("public_key", tmp_path, settings)


@pytest.fixture
def wechat_cert(tmp_path, settings):
    yield from _wechat("certificate", tmp_path, settings)


def _wechat(mode, tmp_path, settings):
    from siyu.payments import wechat_wire as wire

    fake = FakeWeChatPay(mode=mode)
    key_path = tmp_path / "apiclient_key.pem"
    key_path.write_text(wire.private_pem(fake.merchant_key))
    settings.SIYU_PAYMENT_PROVIDER = "wechat"
    settings.SIYU_WECHATPAY_MCHID = fake.mchid
    settings.SIYU_WECHATPAY_APPID = fake.appid
    settings.SIYU_WECHATPAY_MINIPROGRAM_APPID = ""
    settings.SIYU_WECHATPAY_CERT_SERIAL_NO = fake.merchant_serial
    settings.SIYU_WECHATPAY_PRIVATE_KEY_PATH = str(key_path)
    settings.SIYU_WECHATPAY_APIV3_KEY = fake.apiv3_key
    settings.SIYU_WECHATPAY_NOTIFY_URL = "https://shop.example.com/m/payments/notify/wechat/"
    settings.SIYU_WECHATPAY_API_BASE = fake.base_url
    settings.SIYU_WECHATPAY_TIMEOUT_SECONDS = 5
    cert_dir = tmp_path / "wechatpay-certs"
    settings.SIYU_WECHATPAY_CERT_DIR = str(cert_dir)
    if mode == "public_key":
        pub = tmp_path / "pub_key.pem"
        pub.write_text(fake.platform_public_pem())
        settings.SIYU_WECHATPAY_PUBLIC_KEY_ID = fake.public_key_id
        settings.SIYU_WECHATPAY_PUBLIC_KEY_PATH = str(pub)
    else:
        fake.write_cert_dir(cert_dir)
        settings.SIYU_WECHATPAY_PUBLIC_KEY_ID = ""
        settings.SIYU_WECHATPAY_PUBLIC_KEY_PATH = ""
    fake.cert_dir = cert_dir
    try:
        yield fake
    finally:
        fake.close()


def post_notification(client, provider: str, headers: dict, body: str):
    """POST a notification to our endpoint the way WeChat Pay does."""
    extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    return client.post(
        f"/m/payments/notify/{provider}/", data=body, content_type="application/json", **extra
    )


__all__ = ["FakeWeChatPay", "override_settings", "post_notification"]


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` runs what the block queued for after commit, as a real commit would
    (the test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def work(run_tasks, django_capture_on_commit_callbacks):
    """Run every ready background task, and what those tasks queue, as the worker would."""
    from django_tasks_db.models import DBTaskResult

    def run(rounds: int = 10) -> None:
        for _ in range(rounds):
            with django_capture_on_commit_callbacks(execute=True):
                run_tasks()
            if not DBTaskResult.objects.ready().exists():
                return

    return run
