"""The importer's fast path for one-line orders computes exactly what the general path does."""

from dataclasses import astuple

import pytest

from bench.import_orders import generate
from siyu.core.access import Actor
from siyu.imports.models import ImportJob
from siyu.imports.pipeline import Draft, Importer
from siyu.imports.presets import DOUYIN, TMALL
from siyu.imports.reader import open_export

from .exports import DOUYIN_HEADER, write_csv


def _drafts(importer):
    batch: dict[str, Draft] = {}
    for number, row in importer.export.rows():
        importer._read_row(number, row, batch)
    return [d for d in batch.values() if not d.errors and len(d.lines) == 1]


def _same(importer, drafts):
    checked = 0
    for draft in drafts:
        fast, general = importer._finalize_single(draft), importer._finalize_general(draft)
        if isinstance(fast, list):
            assert fast == general
        else:
            assert astuple(fast) == astuple(general), draft.external_id
        checked += 1
    return checked


def test_single_line_fast_path_matches_the_general_path_on_a_tmall_export(tmp_path):
    path = tmp_path / "tmall.csv"
    generate(path, 3000, seed=7)
    importer = Importer(
        ImportJob(pk=1, preset="tmall"), TMALL, open_export(path, TMALL), actor=Actor.system("t")
    )
    assert _same(importer, _drafts(importer)) > 1500


@pytest.mark.parametrize("after_sale", ["-", "退款成功"])
@pytest.mark.parametrize("status", ["已完成", "待发货", "已关闭", "待支付"])
def test_single_line_fast_path_matches_on_line_level_money(tmp_path, status, after_sale):
    values = {h: "" for h in DOUYIN_HEADER}
    values.update(
        {
            "主订单编号": "1",
            "子订单编号": "2",
            "选购商品": "晚霜",
            "商品数量": "2",
            "商品单价": "50.00",
            "订单应付金额": "88.00",
            "运费": "8.00",
            "订单状态": status,
            "订单提交时间": "2024-07-01 20:30:00",
            "支付完成时间": "2024-07-01 20:31:00",
            "售后状态": after_sale,
        }
    )
    path = write_csv(tmp_path / "d.csv", DOUYIN_HEADER, [[values[h] for h in DOUYIN_HEADER]])
    importer = Importer(
        ImportJob(pk=1, preset="douyin"), DOUYIN, open_export(path, DOUYIN), actor=Actor.system("t")
    )
    assert _same(importer, _drafts(importer)) == 1
