"""Good rows are imported exactly once; bad rows are reported with their line; bad files import
nothing."""

import pytest

from siyu.customers.models import Customer, Touch
from siyu.imports.models import ImportJob
from siyu.imports.services import ImportFailed
from siyu.orders.models import Order, OrderLine, OrderStatusChange

from .exports import JD_HEADER, TMALL_HEADER, tmall_row, write_csv

pytestmark = pytest.mark.django_db


def _tmall(tmp_path, rows, name="t.csv", **options):
    return write_csv(tmp_path / name, TMALL_HEADER, rows, encoding="gbk", **options)


def test_importing_the_same_file_again_creates_nothing_twice(tmp_path, import_file):
    path = _tmall(
        tmp_path, [tmall_row("1001"), tmall_row("1002", buyer="tb_bob", phone="'13900000002")]
    )
    _job, first = import_file(path, "tmall")
    second_job, second = import_file(path, "tmall")
    assert first["orders_created"] == 2 and first["customers_created"] == 2
    assert second == {
        "rows": 2,
        "orders_created": 0,
        "orders_updated": 0,
        "duplicates": 2,
        "rejected": [],
        "customers_created": 0,
        "customers_matched": 0,
    }
    assert Order.objects.count() == 2 and OrderLine.objects.count() == 2
    assert Customer.objects.count() == 2
    assert OrderStatusChange.objects.count() == 2
    # nothing new happened to anyone: no touch for the second job
    assert not Touch.objects.filter(ref=second_job.touch_ref).exists()


def test_an_overlapping_later_export_updates_changed_orders_and_adds_new_ones(
    tmp_path, import_file
):
    june = _tmall(
        tmp_path,
        [
            tmall_row("1001", status="买家已付款，等待卖家发货"),
            tmall_row(
                "1002", buyer="tb_bob", phone="'13900000002", status="卖家已发货，等待买家确认"
            ),
        ],
        name="june.csv",
    )
    import_file(june, "tmall")
    july = _tmall(
        tmp_path,
        [
            tmall_row("1001", status="交易成功"),  # moved on
            tmall_row(
                "1002", buyer="tb_bob", phone="'13900000002", status="卖家已发货，等待买家确认"
            ),
            tmall_row("1003", created="2024-07-02 10:00:00"),  # alice again, new order
        ],
        name="july.csv",
    )
    job, report = import_file(july, "tmall")
    assert (report["orders_created"], report["orders_updated"], report["duplicates"]) == (1, 1, 1)
    assert report["customers_created"] == 0
    assert report["customers_matched"] == 1  # alice: an updated order and a new one
    order = Order.objects.get(external_id="1001")
    assert order.status == "completed"
    assert list(order.history.values_list("from_status", "to_status")) == [
        ("", "paid"),
        ("paid", "completed"),
    ]
    assert order.lines.count() == 1
    alice = order.customer
    assert Order.objects.get(external_id="1003").customer == alice
    assert Touch.objects.filter(customer=alice, ref=job.touch_ref).count() == 1


def test_a_changed_amount_counts_as_an_update(tmp_path, import_file):
    import_file(_tmall(tmp_path, [tmall_row("1001")], name="a.csv"), "tmall")
    _job, report = import_file(
        _tmall(tmp_path, [tmall_row("1001", refund="20.00")], name="b.csv"), "tmall"
    )
    assert report["orders_updated"] == 1
    assert Order.objects.get().refunded_fen == 2000


def test_an_older_export_does_not_move_an_order_back(tmp_path, import_file):
    import_file(_tmall(tmp_path, [tmall_row("1001", status="交易成功")], name="new.csv"), "tmall")
    _job, report = import_file(
        _tmall(tmp_path, [tmall_row("1001", status="买家已付款，等待卖家发货")], name="old.csv"),
        "tmall",
    )
    assert report["duplicates"] == 1 and report["orders_updated"] == 0
    assert Order.objects.get().status == "completed"


def test_every_rejected_row_is_reported_with_its_line_and_reason(tmp_path, import_file):
    rows = [
        tmall_row("1001"),  # line 2, fine
        tmall_row(""),  # 3: missing id
        tmall_row("1003", created="2024-13-45 25:61:00"),  # 4: bad date
        tmall_row("1004", paid="abc"),  # 5: bad amount
        tmall_row("1005", status="神秘状态"),  # 6: unknown status
        tmall_row("1006", created=""),  # 7: missing time
        tmall_row("1007", title=""),  # 8: missing title
        tmall_row("1008", refund="500.00"),  # 9: refund above paid
        tmall_row("3.80000000062632E+18"),  # 10: id damaged by Excel
        tmall_row("1011", quantity="0"),  # 11: bad quantity
        tmall_row("1012", buyer="tb_zed", phone="'13900000012"),  # 12, fine
    ]
    job, report = import_file(_tmall(tmp_path, rows), "tmall")
    assert report["rows"] == 11
    assert report["orders_created"] == 2
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert "missing order id" in reasons[3] and "订单编号" in reasons[3]
    assert "bad time" in reasons[4] and "订单创建时间" in reasons[4]
    assert "bad amount" in reasons[5] and "买家实际支付金额" in reasons[5]
    assert "unknown status '神秘状态'" in reasons[6]
    assert "missing order time" in reasons[7]
    assert "missing product title" in reasons[8]
    assert "refund ¥500.00 is more than the amount paid ¥199.00" in reasons[9]
    assert "scientific notation" in reasons[10]
    assert "bad quantity" in reasons[11]
    assert set(Order.objects.values_list("external_id", flat=True)) == {"1001", "1012"}
    assert job.rejected_count == 9


def test_a_bad_line_rejects_its_whole_order_and_names_the_line(tmp_path, import_file):
    header = JD_HEADER
    good = {
        "订单号": "88001",
        "商品名称": "洗发水",
        "订购数量": "1",
        "下单时间": "2024-03-08 09:12:33",
        "京东价": "99.00",
        "应付金额": "198.00",
        "订单状态": "完成",
        "下单帐号": "jd_x",
    }
    bad = dict(good, 商品名称="护发素", 订购数量="两")
    rows = [[d.get(h, "") for h in header] for d in (good, bad)]
    job, report = import_file(write_csv(tmp_path / "jd.csv", header, rows, encoding="gbk"), "jd")
    assert report["orders_created"] == 0
    assert report["rejected"] == [
        {"line": 2, "reason": "order 88001 not imported: line 3 has an error"},
        {"line": 3, "reason": "bad quantity '两' in 订购数量"},
    ]


def test_an_unreadable_order_cell_on_a_later_row_rejects_the_order_too(tmp_path, import_file):
    """Order-level cells repeat on every item row; a garbled copy is reported, never passed over."""
    rows = [
        tmall_row("2001", title="精华液"),  # line 2
        tmall_row("2001", title="面霜", paid="abc"),  # 3: the paid amount repeated, garbled
        tmall_row("2002"),  # 4: fine
    ]
    _job, report = import_file(_tmall(tmp_path, rows), "tmall")
    assert report["orders_created"] == 1
    assert report["rejected"] == [
        {"line": 2, "reason": "order 2001 not imported: line 3 has an error"},
        {"line": 3, "reason": report["rejected"][1]["reason"]},
    ]
    assert "bad amount" in report["rejected"][1]["reason"]
    assert "买家实际支付金额" in report["rejected"][1]["reason"]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["2002"]


def test_rows_fixed_and_imported_again_are_imported_once(tmp_path, import_file):
    rows = [tmall_row("1001"), tmall_row("1002", paid="abc")]
    import_file(_tmall(tmp_path, rows, name="first.csv"), "tmall")
    rows[1] = tmall_row("1002")
    _job, report = import_file(_tmall(tmp_path, rows, name="fixed.csv"), "tmall")
    assert (report["orders_created"], report["duplicates"]) == (1, 1)
    assert Order.objects.count() == 2


def test_unknown_headers_name_the_missing_columns_and_import_nothing(tmp_path, import_file):
    path = write_csv(
        tmp_path / "wrong.csv",
        ["单号", "商品", "时间", "状态"],
        [["1", "x", "2024-01-01 00:00:00", "完成"]],
        encoding="gbk",
    )
    with pytest.raises(ImportFailed) as exc:
        import_file(path, "tmall")
    job = exc.value.job
    assert job.status == "failed" and job.error_code == "unknown_header"
    for column in ("订单编号", "订单状态", "订单创建时间", "宝贝标题"):
        assert column in job.error
    assert Order.objects.count() == 0 and Customer.objects.count() == 0


def test_a_file_whose_bytes_do_not_decode_imports_nothing(tmp_path, import_file):
    good = "\r\n".join([",".join(TMALL_HEADER), ",".join(tmall_row("1001"))]).encode("utf-8")
    path = tmp_path / "broken.csv"
    # valid UTF-8 at the start, then bytes that are neither UTF-8 nor GB18030
    path.write_bytes(
        good + b"\r\n" + ",".join(tmall_row("1002")).encode("utf-8") + b"\x81\x20\xff\r\n"
    )
    with pytest.raises(ImportFailed) as exc:
        import_file(path, "tmall")
    assert exc.value.job.error_code == "encoding"
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "content, code",
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "xls"),
        (b"PK\x03\x04 not really a zip", "xlsx"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_files_that_are_not_exports_fail_with_one_clear_error(tmp_path, import_file, content, code):
    path = tmp_path / "file.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFailed) as exc:
        import_file(path, "tmall")
    assert exc.value.job.error_code == code
    assert exc.value.job.error
    assert ImportJob.objects.get().status == "failed"


def test_header_below_title_lines_and_with_spaces_is_found(tmp_path, import_file):
    header = [f" {h.strip()} " for h in TMALL_HEADER]
    header[0] = "订单编号　"  # ideographic space
    path = write_csv(
        tmp_path / "t.csv",
        header,
        [tmall_row("1001")],
        encoding="gbk",
        preamble=["siyu旗舰店 订单报表", "导出时间：2024-06-30 10:00:00"],
    )
    job, report = import_file(path, "tmall")
    assert job.header_row == 3
    assert report["orders_created"] == 1 and report["rejected"] == []


def test_blank_rows_are_skipped_and_line_numbers_stay_true(tmp_path, import_file):
    rows = [tmall_row("1001"), [""] * len(TMALL_HEADER), tmall_row("", buyer="x")]
    _job, report = import_file(_tmall(tmp_path, rows), "tmall")
    assert report["rows"] == 2
    assert report["rejected"][0]["line"] == 4


def test_dry_run_reports_but_saves_nothing(tmp_path, import_file):
    path = _tmall(tmp_path, [tmall_row("1001"), tmall_row("1002", paid="x")])
    job, report = import_file(path, "tmall", dry_run=True)
    assert report["orders_created"] == 1 and report["customers_created"] == 1
    assert [r["line"] for r in report["rejected"]] == [3]
    assert Order.objects.count() == 0 and Customer.objects.count() == 0
    assert job.dry_run and job.status == "done"


def test_orders_split_over_the_file_are_merged_not_doubled(tmp_path, import_file, settings):
    from siyu.imports import pipeline

    header = [
        "订单编号",
        "子订单编号",
        "买家会员名",
        "买家实际支付金额",
        "订单状态",
        "联系手机",
        "订单创建时间",
        "订单付款时间",
        "宝贝标题",
        "价格",
        "购买数量",
    ]

    def row(order, sub, title):
        return [
            order,
            sub,
            "tb_a",
            "30.00",
            "交易成功",
            "13800000000",
            "2024-01-01 10:00:00",
            "2024-01-01 10:01:00",
            title,
            "10.00",
            "1",
        ]

    rows = [
        row("1", "11", "A"),
        row("2", "21", "B"),
        row("3", "31", "C"),
        row("1", "12", "D"),
        row("1", "11", "A"),
    ]  # order 1's second item far below, and a repeated row
    old = pipeline.BATCH_ROWS
    pipeline.BATCH_ROWS = 2  # force the split over two batches
    try:
        _job, report = import_file(write_csv(tmp_path / "s.csv", header, rows), "tmall")
    finally:
        pipeline.BATCH_ROWS = old
    assert report["orders_created"] == 3 and report["rejected"] == []
    order = Order.objects.get(external_id="1")
    assert list(order.lines.order_by("line_no").values_list("product_title", flat=True)) == [
        "A",
        "D",
    ]


def test_an_erased_customers_orders_never_get_their_personal_data_back(tmp_path, import_file):
    from siyu.core.access import Actor
    from siyu.customers.services import erase_customer

    import_file(
        _tmall(tmp_path, [tmall_row("1001", status="卖家已发货，等待买家确认")], name="a.csv"),
        "tmall",
    )
    customer = Order.objects.get().customer
    erase_customer(customer.pk, actor=Actor.system("tests"), reason="PIPL request")
    _job, report = import_file(
        _tmall(tmp_path, [tmall_row("1001", status="交易成功")], name="b.csv"), "tmall"
    )
    assert report["orders_updated"] == 1
    order = Order.objects.get()
    assert order.status == "completed"
    assert (order.receiver_name, order.receiver_phone, order.receiver_address) == ("", "", "")
    # a new order from the same phone is a new customer: the erased one is never matched again
    _job, report = import_file(_tmall(tmp_path, [tmall_row("1002")], name="c.csv"), "tmall")
    assert report["customers_created"] == 1
    assert Order.objects.get(external_id="1002").customer != customer
