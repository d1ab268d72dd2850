"""An operator finds a customer, opens them and tags them, in the real browser, in both languages."""

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_search_open_and_tag_a_customer(page_for, browser_locale, operator, register, tag_groups):
    from siyu.customers.models import CustomerTag

    wanted = register("林晓雨", "13912345678", source="live", city="杭州")
    register("林晓峰", "13700001111", source="tmall")
    page = page_for(browser_locale)
    login(page, "operator")

    page.goto("/console/customers/")
    page.get_by_test_id("customer-search").fill("5678")  # 尾号: the last four digits
    page.get_by_test_id("customer-search").press("Enter")
    page.wait_for_url("**q=5678**")
    names = page.get_by_test_id("customer-name")
    assert names.count() == 1
    assert names.first.inner_text() == "林晓雨"
    assert "139****5678" in page.get_by_test_id("customer-table").inner_text()

    names.first.click()
    page.wait_for_url(f"**/console/customers/{wanted.pk}/")
    assert page.get_by_test_id("customer-phone").inner_text() == "13912345678"
    heading = "营销授权" if browser_locale.startswith("zh") else "Marketing consent"
    assert page.get_by_role("heading", name=heading).is_visible()

    toggle = page.get_by_test_id("customer-tags").get_by_role("button", name="干皮")
    toggle.click()  # htmx swaps the tag panel in place
    pressed = page.get_by_test_id("customer-tags").get_by_role("button", name="干皮")
    pressed.and_(page.locator("[aria-pressed=true]")).wait_for()
    assert CustomerTag.objects.filter(customer=wanted, tag=tag_groups["dry"]).exists()
    assert page.url.endswith(f"/console/customers/{wanted.pk}/")  # no full page reload needed
