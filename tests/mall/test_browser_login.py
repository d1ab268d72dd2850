"""A shopper logs in on the phone-sized page with a texted code, in Chinese and in English."""

import pytest

from .conftest import code_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def shopper_login(page, phone: str, next_path: str = "/m/me/") -> None:
    page.goto(f"/m/login/?next={next_path}")
    page.fill("#phone", phone)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code-status").filter(has_text=phone[-4:]).wait_for()
    page.fill("#code", code_for(phone))
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"**{next_path}")


def test_phone_login_in_the_browser_language(page_for, browser_locale):
    page = page_for(browser_locale, **IPHONE)
    shopper_login(page, "13912345678")
    profile = page.get_by_test_id("profile").inner_text()
    assert "139****5678" in profile
    logout = "退出登录" if browser_locale.startswith("zh") else "Log out"
    assert page.get_by_test_id("logout").inner_text() == logout
    assert page.get_by_test_id("send-code").count() == 0


def test_get_code_button_counts_down_and_switcher_changes_language(page_for):
    page = page_for("zh-CN", **IPHONE)
    page.goto("/m/login/")
    assert page.get_by_test_id("send-code").inner_text() == "获取验证码"
    page.fill("#phone", "13912345678")
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code-status").filter(has_text="5678").wait_for()
    assert page.get_by_test_id("send-code").is_disabled()
    with page.expect_navigation():
        page.get_by_test_id("lang-en").click()
    assert page.get_by_test_id("login-submit").inner_text() == "Log in"
