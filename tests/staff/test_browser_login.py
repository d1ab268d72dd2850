"""A staff member logs in through the real browser, in Chinese and in English."""

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_shows_the_console_in_the_browser_language(page_for, browser_locale, operator):
    page = page_for(browser_locale)
    login(page, "operator")
    expected = "退出登录" if browser_locale.startswith("zh") else "Log out"
    assert page.get_by_role("button", name=expected).is_visible()
    assert page.get_by_test_id("current-user").inner_text().startswith("operator")


def test_wrong_password_is_refused_with_a_message(page_for, operator):
    page = page_for("en-US")
    page.goto("/console/staff/login/")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    error = page.locator(".flash-error")
    error.wait_for()  # the refusal is a new page: wait for it rather than race it
    assert error.inner_text().strip()
    assert "/login/" in page.url


def test_language_switcher_changes_the_language(page_for, operator):
    page = page_for("en-US")
    login(page, "operator")
    with page.expect_navigation():
        page.get_by_test_id("language-switch").select_option("zh-hans")
    assert page.get_by_role("button", name="退出登录").is_visible()
