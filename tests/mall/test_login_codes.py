"""One-time login codes: hashed at rest, short-lived, limited tries, throttled sending."""

from __future__ import annotations

import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from siyu.mall import login, sms
from siyu.mall.login import CodeRejected, TooManyRequests
from siyu.mall.models import LoginCode
from siyu.mall.sms import ConsoleSmsAdapter

from .conftest import code_for

pytestmark = pytest.mark.django_db
PHONE = "13800138000"
IP = "203.0.113.7"


def test_a_code_is_texted_once_and_stored_only_as_a_hash(caplog):
    with caplog.at_level(logging.INFO, logger="siyu.mall.sms"):
        sent = login.send_login_code("+86 138-0013-8000", ip=IP)
    code = code_for(PHONE)
    assert sent.phone == PHONE and sent.expires_in == 300
    assert len(code) == 6 and code.isdigit()
    assert f"code={code}" in caplog.text and "138****8000" in caplog.text
    row = LoginCode.objects.get()
    stored = " ".join(str(v) for v in row.__dict__.values())
    assert code not in stored.replace(row.code_hash, "").replace(row.salt, "")
    assert PHONE not in stored
    assert login.verify_login_code(PHONE, code, ip=IP) == PHONE


def test_a_code_works_only_once():
    login.send_login_code(PHONE, ip=IP)
    code = code_for(PHONE)
    login.verify_login_code(PHONE, code, ip=IP)
    with pytest.raises(CodeRejected):
        login.verify_login_code(PHONE, code, ip=IP)


def test_a_code_expires_after_five_minutes():
    login.send_login_code(PHONE, ip=IP)
    code = code_for(PHONE)
    later = timezone.now() + timedelta(minutes=5, seconds=1)
    with (
        mock.patch("siyu.mall.login.timezone.now", return_value=later),
        pytest.raises(CodeRejected) as err,
    ):
        login.verify_login_code(PHONE, code, ip=IP)
    assert err.value.code == "code_expired"


def test_five_wrong_tries_void_the_code_even_if_the_right_one_follows():
    login.send_login_code(PHONE, ip=IP)
    code = code_for(PHONE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(CodeRejected) as err:
            login.verify_login_code(PHONE, wrong, ip=IP)
        assert err.value.code == "code_wrong" and str(left) in err.value.message
    with pytest.raises(CodeRejected) as err:
        login.verify_login_code(PHONE, wrong, ip=IP)
    assert err.value.code == "code_locked"
    with pytest.raises(CodeRejected) as err:
        login.verify_login_code(PHONE, code, ip=IP)
    assert err.value.code == "code_missing"


def test_a_new_code_replaces_the_previous_one(settings):
    settings.SIYU_LOGIN_CODE_RESEND_SECONDS = 0
    login.send_login_code(PHONE, ip=IP)
    first = code_for(PHONE)
    login.send_login_code(PHONE, ip=IP)
    second = code_for(PHONE)
    if first != second:
        with pytest.raises(CodeRejected):
            login.verify_login_code(PHONE, first, ip=IP)
    assert login.verify_login_code(PHONE, second, ip=IP) == PHONE


def test_resending_within_a_minute_is_refused_with_the_wait():
    login.send_login_code(PHONE, ip=IP)
    with pytest.raises(TooManyRequests) as err:
        login.send_login_code(PHONE, ip=IP)
    assert 0 < err.value.retry_after <= 60
    assert err.value.status == 429
    assert len(ConsoleSmsAdapter.outbox()) == 1


def test_a_phone_gets_at_most_five_codes_an_hour(settings):
    settings.SIYU_LOGIN_CODE_RESEND_SECONDS = 0
    for _ in range(5):
        login.send_login_code(PHONE, ip=IP)
    with pytest.raises(TooManyRequests):
        login.send_login_code(PHONE, ip="198.51.100.1")
    assert len(ConsoleSmsAdapter.outbox()) == 5


def test_one_network_cannot_text_codes_to_many_phones(settings):
    settings.SIYU_LOGIN_CODES_PER_IP_HOUR = 3
    for i in range(3):
        login.send_login_code(f"1390000000{i}", ip=IP)
    with pytest.raises(TooManyRequests):
        login.send_login_code("13900000009", ip=IP)
    login.send_login_code("13900000009", ip="198.51.100.1")


def test_wrong_codes_from_one_network_are_capped_across_phones(settings):
    settings.SIYU_LOGIN_FAILURES_PER_IP_HOUR = 3
    for i in range(3):
        phone = f"1390000000{i}"
        login.send_login_code(phone, ip="198.51.100.1")
        with pytest.raises(CodeRejected):
            login.verify_login_code(
                phone, "000000" if code_for(phone) != "000000" else "1" * 6, ip=IP
            )
    login.send_login_code("13900000009", ip="198.51.100.1")
    with pytest.raises(TooManyRequests):
        login.verify_login_code("13900000009", code_for("13900000009"), ip=IP)
    assert login.verify_login_code("13900000009", code_for("13900000009"), ip="192.0.2.1")


def test_malformed_phone_and_code_are_refused_without_texting():
    with pytest.raises(login.ValidationFailed):
        login.send_login_code("138****8000", ip=IP)
    with pytest.raises(login.ValidationFailed):
        login.send_login_code("12345", ip=IP)
    assert ConsoleSmsAdapter.outbox() == []
    login.send_login_code(PHONE, ip=IP)
    with pytest.raises(login.ValidationFailed):
        login.verify_login_code(PHONE, "12ab56", ip=IP)
    assert LoginCode.objects.get().attempts == 0


def test_a_failed_text_voids_the_code_and_allows_an_immediate_retry(settings):
    class Down(sms.SmsAdapter):
        def send(self, message):
            raise sms.SmsError("gateway timeout")

    with (
        mock.patch("siyu.mall.sms.get_adapter", return_value=Down()),
        pytest.raises(login.SmsUnavailable),
    ):
        login.send_login_code(PHONE, ip=IP)
    assert LoginCode.objects.get().send_failed
    login.send_login_code(PHONE, ip=IP)
    assert login.verify_login_code(PHONE, code_for(PHONE), ip=IP) == PHONE


def test_console_adapter_refuses_to_send_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(sms.SmsError):
        ConsoleSmsAdapter().send(sms.SmsMessage(PHONE, "login_code", {"code": "123456"}))


def test_a_configured_provider_adapter_receives_its_options(settings):
    settings.SIYU_SMS_ADAPTER = "tests.mall.test_login_codes.RecordingSms"
    settings.SIYU_SMS_OPTIONS = {"sign_name": "私域", "template_code": "SMS_0001"}
    RecordingSms.sent.clear()
    login.send_login_code(PHONE, ip=IP)
    ((adapter, message),) = RecordingSms.sent
    assert adapter.options == {"sign_name": "私域", "template_code": "SMS_0001"}
    assert message.template == "login_code" and message.params["minutes"] == 5
    code = message.params["code"]
    assert login.verify_login_code(PHONE, code, ip=IP) == PHONE


class RecordingSms(sms.SmsAdapter):
    sent: list = []

    def send(self, message):
        self.sent.append((self, message))
        return "msg-1"


def test_old_codes_and_counters_are_purged():
    login.send_login_code(PHONE, ip=IP)
    assert login.purge_expired(timezone.now() + timedelta(days=3)) == (1, 3)
