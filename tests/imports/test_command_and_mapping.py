"""`siyu import-orders`, its report file and exit status, and generic imports via a mapping."""

import json
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from siyu.core import events
from siyu.imports.presets import MappingError, resolve_preset
from siyu.orders.events import OrdersImported
from siyu.orders.models import Order

from .exports import TMALL_HEADER, tmall_row, write_csv

pytestmark = pytest.mark.django_db

MAPPING = """
# orders from our own Shopify-like store
platform = "other"
date_format = "%d/%m/%Y %H:%M"

[columns]
order_id = "Order"
status = "Financial Status"
placed_at = "Created at"
paid_at = "Paid at"
buyer_name = "Billing Name"
receiver_phone = ["Phone", "Billing Phone"]
paid = "Total"
shipping = "Shipping"
title = "Lineitem name"
quantity = "Lineitem quantity"
unit_price = "Lineitem price"

[statuses]
paid = "paid"
fulfilled = "shipped"
refunded = "refunded"
voided = "closed"
"""


def test_command_prints_one_line_and_writes_the_report(tmp_path):
    path = write_csv(
        tmp_path / "t.csv", TMALL_HEADER, [tmall_row("1001"), tmall_row("")], encoding="gbk"
    )
    out = StringIO()
    call_command(
        "import-orders",
        str(path),
        "--preset",
        "tmall",
        "--report",
        str(tmp_path / "r.json"),
        stdout=out,
    )
    line = out.getvalue().strip()
    assert "\n" not in line
    assert "2 rows" in line and "1 orders created" in line and "1 rejected" in line
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert list(report) == [
        "rows",
        "orders_created",
        "orders_updated",
        "duplicates",
        "rejected",
        "customers_created",
        "customers_matched",
    ]
    assert report["rejected"] == [{"line": 3, "reason": "missing order id (订单编号)"}]


def test_command_fails_with_the_reason_when_the_file_cannot_be_processed(tmp_path):
    path = write_csv(tmp_path / "x.csv", ["a", "b"], [["1", "2"]])
    with pytest.raises(CommandError) as exc:
        call_command("import-orders", str(path), "--preset", "jd")
    assert "订单号" in str(exc.value)
    assert Order.objects.count() == 0


def test_siyu_import_orders_exit_status(tmp_path, capsys, monkeypatch):
    from django.db import connections

    from siyu import cli

    # the command line closes every connection when it ends; keep the test's own open
    monkeypatch.setattr(connections, "close_all", lambda: None)
    good = write_csv(tmp_path / "t.csv", TMALL_HEADER, [tmall_row("1001")], encoding="gbk")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    monkeypatch.setattr(sys, "argv", ["siyu", "import-orders", "--preset", "tmall", str(good)])
    cli.main()  # no SystemExit: exit status 0
    assert "1 orders created" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["siyu", "import-orders", "--preset", "tmall", str(bad)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 1
    assert "empty" in capsys.readouterr().err


def test_generic_export_with_a_mapping_file(tmp_path):
    header = [
        "Order",
        "Financial Status",
        "Created at",
        "Paid at",
        "Billing Name",
        "Phone",
        "Total",
        "Shipping",
        "Lineitem name",
        "Lineitem quantity",
        "Lineitem price",
    ]
    rows = [
        [
            "#1001",
            "paid",
            "18/06/2024 20:01",
            "18/06/2024 20:02",
            "Lin Tao",
            "+86 138 0000 1111",
            "128.00",
            "0.00",
            "Tea set",
            "2",
            "64.00",
        ],
        [
            "#1002",
            "voided",
            "19/06/2024 09:00",
            "",
            "Lin Tao",
            "13800001111",
            "64.00",
            "0.00",
            "Tea cup",
            "1",
            "64.00",
        ],
    ]
    path = write_csv(tmp_path / "shop.csv", header, [[c.replace("#", "") for c in r] for r in rows])
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    out = StringIO()
    call_command(
        "import-orders", str(path), "--preset", "generic", "--mapping", str(mapping), stdout=out
    )
    assert "2 orders created" in out.getvalue()
    first = Order.objects.get(external_id="1001")
    assert (first.platform, first.number, first.status, first.paid_fen) == (
        "other",
        "EX1001",
        "paid",
        12800,
    )
    assert first.lines.get().quantity == 2
    assert first.customer.source == "platform"
    assert first.customer.phone == "13800001111"  # +86 and spaces normalised
    assert Order.objects.get(external_id="1002").customer == first.customer
    assert Order.objects.get(external_id="1002").status == "closed"


def test_a_mapping_can_add_a_renamed_column_to_a_preset(tmp_path):
    header = ["订单编号" if h == "订单编号" else h for h in TMALL_HEADER]
    header[header.index("联系手机")] = "收货人手机"
    path = write_csv(tmp_path / "t.csv", header, [tmall_row("1001")], encoding="gbk")
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[columns]\nreceiver_phone = "收货人手机"\n[statuses]\n"已完结" = "completed"\n'
    )
    call_command(
        "import-orders",
        str(path),
        "--preset",
        "tmall",
        "--mapping",
        str(mapping),
        stdout=StringIO(),
    )
    assert Order.objects.get().receiver_phone == "13812345678"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[columns\n", "not valid TOML"),
        ('platform = "amazon"\n[columns]\norder_id="a"\n', "Unknown platform"),
        ('[columns]\norder_no = "a"\n', "Unknown field 'order_no'"),
        (
            '[columns]\norder_id = "a"\nstatus="b"\nplaced_at="c"\ntitle="d"\n[statuses]\nx = "lost"\n',
            "use one of",
        ),
        ('[columns]\norder_id = "a"\n', "must map the field 'status'"),
        ('[columns]\norder_id = "a"\nstatus="b"\nplaced_at="c"\ntitle="d"\n', "[statuses]"),
        ("colour = 1\n", "Unknown keys"),
    ],
)
def test_bad_mapping_files_are_refused_with_the_reason(text, message):
    with pytest.raises(MappingError) as exc:
        resolve_preset("generic", text)
    assert message in str(exc.value)


def test_generic_without_a_mapping_is_refused(tmp_path):
    path = write_csv(tmp_path / "t.csv", TMALL_HEADER, [tmall_row("1")])
    with pytest.raises(CommandError) as exc:
        call_command("import-orders", str(path), "--preset", "generic")
    assert "mapping" in str(exc.value)


def test_orders_imported_is_published_after_commit(tmp_path, django_capture_on_commit_callbacks):
    seen = []
    handler = events.subscribe(OrdersImported)(seen.append)
    try:
        path = write_csv(tmp_path / "t.csv", TMALL_HEADER, [tmall_row("1001")], encoding="gbk")
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import-orders", str(path), "--preset", "tmall", stdout=StringIO())
        assert len(seen) == 1
        assert (seen[0].orders_created, seen[0].orders_updated) == (1, 0)
        with django_capture_on_commit_callbacks(execute=True):
            call_command(
                "import-orders", str(path), "--preset", "tmall", "--dry-run", stdout=StringIO()
            )
        assert len(seen) == 1  # a dry run changes nothing and announces nothing
    finally:
        events._after_commit[OrdersImported].remove(handler)
