"""In the browser, in both languages: build a segment and watch its count change; read the dashboards."""

from __future__ import annotations

import pytest

from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "zh": {"title": "新建人群", "saved": "已保存", "tab": "同期群与漏斗", "invalid": "完成规则后"},
    "en": {
        "title": "New segment",
        "saved": "saved",
        "tab": "Cohorts and funnel",
        "invalid": "Finish the rule",
    },
}


def live_count(page) -> str:
    return page.get_by_test_id("count-value").get_attribute("data-count")


def settled(page) -> None:
    """Wait until htmx has finished swapping and wired up what it swapped in (it does so on settle)."""
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def wait_for_count(page, value: int) -> None:
    page.locator(f'[data-testid="count-value"][data-count="{value}"]').wait_for()


def test_building_a_segment_shows_the_live_count_as_you_edit(
    page_for, browser_locale, world, snapshot_of, operator
):
    lang = browser_locale[:2]
    page = page_for(browser_locale)
    login(page, "operator")
    page.goto("/console/segments/new/")
    assert page.locator("h1").inner_text() == TEXT[lang]["title"]
    # the starting condition has no value yet: the count asks for it
    page.get_by_test_id("count-invalid").wait_for()
    assert TEXT[lang]["invalid"] in page.get_by_test_id("count-invalid").inner_text()
    first = page.locator('[data-testid="condition"][data-path="n.0"]')
    settled(page)
    first.get_by_test_id("condition-field").select_option("city")
    first = page.locator('[data-testid="condition"][data-path="n.0"]')
    page.locator('input[type="text"][name="n.0.value"]').wait_for()
    page.locator('input[type="text"][name="n.0.value"]').fill("上海、杭州")
    wait_for_count(page, 4)  # amy, bob, cat, dan
    # AND: contactable on WeCom
    page.get_by_test_id("add-condition").first.click()
    second = page.locator('[data-testid="condition"][data-path="n.1"]')
    second.wait_for()
    settled(page)
    second.get_by_test_id("condition-field").select_option("contactable")
    page.locator('input[name="n.1.value"][value="wecom"]').check()
    wait_for_count(page, 2)  # amy and dan (cat opted out)
    # switch the group to OR and the count grows
    page.locator('select[name="n.op"]').select_option("or")
    wait_for_count(page, 5)
    assert '"op": "or"' in page.get_by_test_id("rule-json").text_content()
    page.locator('select[name="n.op"]').select_option("and")
    wait_for_count(page, 2)
    page.get_by_test_id("segment-name").fill("上海杭州企微可达")
    page.get_by_test_id("save-segment").click()
    page.wait_for_url("**/console/segments/*/")
    assert live_count(page) == "2"
    assert page.get_by_test_id("member").count() == 2


def test_the_dashboards_draw_their_charts(page_for, browser_locale, world, snapshot_of, operator):
    lang = browser_locale[:2]
    page = page_for(browser_locale)
    login(page, "operator")
    page.goto("/console/dashboards/")
    page.locator('[data-chart="gmv"][data-drawn="1"]').wait_for()
    page.locator('[data-chart="new_customers"][data-drawn="1"]').wait_for()
    assert page.get_by_test_id("kpi-customers").inner_text() == "6"
    page.get_by_test_id("tab-cohorts").click()
    page.wait_for_url("**/cohorts/**")
    assert page.get_by_test_id("tab-cohorts").inner_text() == TEXT[lang]["tab"]
    page.locator('[data-chart="cohorts"][data-drawn="1"]').wait_for()
    page.locator('[data-chart="funnel"][data-drawn="1"]').wait_for()
    assert page.locator('[data-chart="cohorts"] .main-svg').count() >= 1
    page.get_by_test_id("tab-products").click()
    page.locator('[data-chart="top_products"][data-drawn="1"]').wait_for()
    with page.expect_download() as download:
        page.get_by_test_id("csv-top_products").click()
    assert download.value.suggested_filename.startswith("top_products-")
