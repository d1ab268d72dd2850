"""Cell parsing: what platform exports put in ids, money, times and headers."""

from datetime import datetime

import pytest

from siyu.imports.rules import (
    BadValue,
    clean_header,
    clean_id,
    parse_datetime,
    parse_fen,
    parse_quantity,
    split_region,
)


@pytest.mark.parametrize(
    "cell, expected",
    [
        ('="3800000000626322189"', "3800000000626322189"),
        ("'3800000000626322189", "3800000000626322189"),
        ("3800000000626322189\t", "3800000000626322189"),
        ("  3800000000626322189 ", "3800000000626322189"),
        ("１２３４５", "12345"),  # full-width digits
        (3800000000626, "3800000000626"),  # an XLSX number cell that still has every digit
        (123456.0, "123456"),
        ("123456.0", "123456"),
        ("E20240618123456789012345", "E20240618123456789012345"),  # Youzan
        ("", ""),
        ("-", ""),
    ],
)
def test_ids_lose_their_excel_guards(cell, expected):
    assert clean_id(cell) == expected


@pytest.mark.parametrize("cell", ["3.80000000062632E+18", "3.8e18", 3.8000000006263222e18, "12 34"])
def test_ids_excel_already_damaged_are_refused_with_a_reason(cell):
    with pytest.raises(BadValue) as exc:
        clean_id(cell, label="订单编号")
    assert "订单编号" in exc.value.reason


@pytest.mark.parametrize(
    "cell, fen",
    [
        ("¥1,234.50", 123450),
        ("￥1,234.5", 123450),
        ("1234.56", 123456),
        ("12", 1200),
        ("0.00", 0),
        ("58.8元", 5880),
        (" 9.9 ", 990),
        (99.9, 9990),
        (12, 1200),
        ("1.005", 101),  # half up, never silently dropped
        ("", None),
        ("-", None),
    ],
)
def test_amounts_become_fen(cell, fen):
    assert parse_fen(cell) == fen


@pytest.mark.parametrize("cell", ["abc", "-5.00", "1,2x", "NaN", -3])
def test_bad_amounts_are_refused_naming_the_column(cell):
    with pytest.raises(BadValue) as exc:
        parse_fen(cell, label="买家实际支付金额")
    assert "买家实际支付金额" in exc.value.reason


@pytest.mark.parametrize(
    "cell, utc",
    [
        ("2024-06-18 20:01:02", datetime(2024, 6, 18, 12, 1, 2)),
        ("2024/6/18 8:01", datetime(2024, 6, 18, 0, 1)),
        ("2024-06-18", datetime(2024, 6, 17, 16, 0)),
        ("2024年6月18日 20:01:02", datetime(2024, 6, 18, 12, 1, 2)),
        ("20240618200102", datetime(2024, 6, 18, 12, 1, 2)),
        ("2024-06-18T20:01:02", datetime(2024, 6, 18, 12, 1, 2)),
        (datetime(2024, 6, 18, 20, 1, 2), datetime(2024, 6, 18, 12, 1, 2)),  # XLSX cell
        (45461.5, datetime(2024, 6, 18, 4, 0)),  # Excel serial day: 2024-06-18 12:00 Beijing
        ("", None),
        ("0000-00-00 00:00:00", None),
    ],
)
def test_beijing_times_become_utc(cell, utc):
    assert parse_datetime(cell) == utc


@pytest.mark.parametrize("cell", ["2024-13-45 25:61:00", "yesterday", "18/06/2024"])
def test_bad_times_are_refused(cell):
    with pytest.raises(BadValue) as exc:
        parse_datetime(cell, label="订单创建时间")
    assert "订单创建时间" in exc.value.reason


def test_a_declared_date_format_reads_other_conventions():
    assert parse_datetime("18/06/2024 20:01", fmt="%d/%m/%Y %H:%M") == datetime(2024, 6, 18, 12, 1)


@pytest.mark.parametrize(
    "cell, qty", [("2", 2), ("2.0", 2), ("3件", 3), (4, 4), (5.0, 5), ("", None)]
)
def test_quantities(cell, qty):
    assert parse_quantity(cell) == qty


@pytest.mark.parametrize("cell", ["0", "-1", "1.5", "two"])
def test_bad_quantities_are_refused(cell):
    with pytest.raises(BadValue):
        parse_quantity(cell)


def test_headers_match_despite_spaces_full_width_forms_and_bom():
    assert clean_header(" 订单编号 ") == clean_header("订单编号")
    assert clean_header("\ufeff订单编号") == "订单编号"
    assert clean_header("商品数量（件）") == clean_header("商品数量(件)")
    assert clean_header("收货人　姓名") == "收货人姓名"  # ideographic space
    assert clean_header("*订单号") == "订单号"
    assert clean_header("Order ID") == "orderid"


def test_province_and_city_come_from_platform_addresses():
    assert split_region("浙江省 杭州市 西湖区 文三路 138号") == ("浙江省", "杭州市", "西湖区")
    assert split_region("上海 上海市 浦东新区 世纪大道 1号") == ("上海", "上海市", "浦东新区")
    assert split_region("广西壮族自治区 南宁市 青秀区") == ("广西壮族自治区", "南宁市", "青秀区")
    assert split_region("江苏省 苏州市 ***") == ("江苏省", "苏州市", "")
    assert split_region("文三路138号") == ("", "", "")
