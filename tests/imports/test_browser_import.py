"""An operator uploads an export in the console, watches it run and reads the report, in Chinese
and in English, through Debian's Chromium."""

import json
from pathlib import Path

import pytest

from tests.conftest import login

from .exports import TMALL_HEADER, tmall_row, write_csv

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "zh-CN": {
        "queued": "排队中",
        "done": "已完成",
        "reason": "缺少订单号（订单编号）",
        "rows": "已读取",
    },
    "en-US": {
        "queued": "Queued",
        "done": "Done",
        "reason": "missing order id (订单编号)",
        "rows": "rows read",
    },
}


def test_upload_shows_progress_then_the_report(
    page_for, browser_locale, operator, tmp_path, run_tasks
):
    text = TEXT[browser_locale]
    export = write_csv(
        tmp_path / "ExportOrderList202406.csv",
        TMALL_HEADER,
        [
            tmall_row("3800000000626322189"),
            tmall_row("3800000000626322190", buyer="tb_bob", phone="138****1234"),
            tmall_row(""),
        ],
        encoding="gbk",
    )
    page = page_for(browser_locale)
    login(page, "operator")
    page.goto("/console/imports/")
    page.select_option("select[name=preset]", "tmall")
    page.set_input_files("input[name=file]", str(export))
    page.locator("[data-testid=import-form] button[type=submit]").click()
    page.wait_for_url("**/console/imports/*/")

    progress = page.get_by_test_id("import-progress")
    assert progress.is_visible()
    assert page.get_by_test_id("import-status").inner_text() == text["queued"]
    assert page.locator("progress").is_visible()

    run_tasks()  # the background worker picks the job up

    # htmx polls the progress and reloads the page into the report when the job is done
    summary = page.get_by_test_id("import-summary")
    summary.wait_for(timeout=15000)
    assert page.get_by_test_id("sum-rows").inner_text() == "3"
    assert page.get_by_test_id("sum-created").inner_text() == "2"
    assert page.get_by_test_id("sum-rejected").inner_text() == "1"
    assert page.get_by_test_id("sum-customers-created").inner_text() == "2"
    rejected = page.get_by_test_id("rejected-rows")
    assert "4" in rejected.inner_text() and text["reason"] in rejected.inner_text()

    with page.expect_download() as download:
        page.get_by_test_id("report-json").click()
    report = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert report["orders_created"] == 2
    assert report["rejected"] == [{"line": 4, "reason": text["reason"]}]

    page.goto("/console/imports/")
    assert text["done"] in page.get_by_test_id("import-jobs").inner_text()
