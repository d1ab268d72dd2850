"""Real-looking exports of each platform become orders, lines and customers."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from siyu.customers.models import Customer, Identity, Touch
from siyu.orders.models import Order, OrderLine, OrderStatusChange

from .exports import (
    DOUYIN_HEADER,
    JD_HEADER,
    PDD_HEADER,
    TMALL_HEADER,
    TMALL_ITEM_HEADER,
    YOUZAN_HEADER,
    tmall_row,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.django_db


def _identities(customer):
    return sorted((i.kind, i.value) for i in customer.identities.all())


def test_tmall_gbk_export_with_guarded_ids_and_masked_phones(tmp_path, import_file):
    rows = [
        tmall_row("3800000000626322189", goods="1,234.50", total="￥1,234.50", paid="1,200.00"),
        tmall_row(
            "3800000000626322190",
            buyer="小白兔8823",
            receiver="李**",
            address="上海 上海市 浦东新区 ***",
            phone="138****1234",
            status="买家已付款，等待卖家发货",
            goods="99.00",
            shipping="10.00",
            total="109.00",
            title="烟酰胺美白面膜 10片装",
            quantity="2",
        ),
        tmall_row(
            "3800000000626322191", status="卖家已发货，等待买家确认", created="2024/6/19 9:00"
        ),
    ]
    path = write_csv(tmp_path / "ExportOrderList20240620.csv", TMALL_HEADER, rows, encoding="gbk")
    job, report = import_file(path, "tmall")

    assert report == {
        "rows": 3,
        "orders_created": 3,
        "orders_updated": 0,
        "duplicates": 0,
        "rejected": [],
        "customers_created": 2,
        "customers_matched": 0,
    }
    assert job.encoding == "gb18030"
    first = Order.objects.get(platform="tmall", external_id="3800000000626322189")
    assert first.number == "TM3800000000626322189"
    assert first.channel == "platform"
    assert first.status == "completed"
    assert (first.goods_amount_fen, first.payable_fen, first.paid_fen) == (123450, 123450, 120000)
    assert first.discount_fen == 3450
    assert first.placed_at == datetime(2024, 6, 18, 12, 1, 2, tzinfo=UTC)
    assert first.paid_at == datetime(2024, 6, 18, 12, 1, 30, tzinfo=UTC)
    assert (first.receiver_name, first.receiver_phone) == ("张三", "13812345678")
    assert (first.receiver_province, first.receiver_city, first.receiver_district) == (
        "浙江省",
        "杭州市",
        "西湖区",
    )
    [line] = first.lines.all()
    assert (line.product_title, line.quantity, line.amount_fen, line.paid_fen) == (
        "玻尿酸补水精华液 30ml",
        1,
        123450,
        120000,
    )
    alice = first.customer
    assert alice.source == "tmall"
    assert alice.name == "张三"
    assert _identities(alice) == [("phone", "13812345678"), ("tmall_buyer", "tb_alice")]
    assert alice.first_seen_at == datetime(2024, 6, 18, 12, 1, 2, tzinfo=UTC)
    # tb_alice's second order joins the same customer
    assert Order.objects.get(external_id="3800000000626322191").customer == alice

    masked = Order.objects.get(external_id="3800000000626322190")
    assert masked.status == "paid"
    assert (masked.shipping_fen, masked.payable_fen) == (1000, 10900)
    assert masked.lines.get().quantity == 2
    bunny = masked.customer
    # a masked phone is never an identity; the nickname is the name when the receiver is masked
    assert _identities(bunny) == [("tmall_buyer", "小白兔8823")]
    assert bunny.name == "小白兔8823" and bunny.phone == ""
    # one touch per customer for this import
    assert Touch.objects.filter(ref=job.touch_ref).count() == 2
    # every imported order has an "imported" history row
    assert OrderStatusChange.objects.filter(order__platform="tmall").count() == 3
    assert OrderStatusChange.objects.get(order=first).to_status == "completed"


def test_receiver_details_and_identities_are_encrypted_at_rest(tmp_path, import_file):
    path = write_csv(tmp_path / "t.csv", TMALL_HEADER, [tmall_row("1001")], encoding="gbk")
    import_file(path, "tmall")
    with connection.cursor() as cursor:
        cursor.execute("SELECT receiver_name, receiver_phone, receiver_address FROM orders_order")
        raw = cursor.fetchone()
        cursor.execute("SELECT value FROM customers_identity WHERE kind = 'phone'")
        identity = cursor.fetchone()[0]
        cursor.execute("SELECT phone FROM customers_customer")
        phone = cursor.fetchone()[0]
    assert all(value.startswith("v1:") for value in raw)
    assert "13812345678" not in "".join(raw) + identity + phone
    assert identity.startswith("v1:") and phone.startswith("v1:")


def test_tmall_item_rows_become_one_order_with_lines(tmp_path, import_file):
    order = [
        "3900000000000000001",
        None,
        "tb_carol",
        "576.00",
        "0.00",
        "576.00",
        "518.40",
        "交易成功",
        "王芳",
        "江苏省 南京市 鼓楼区 中山路 1号",
        "13900001111",
        "2024-05-01 10:00:00",
        "2024-05-01 10:05:00",
    ]
    rows = []
    for n, (title, spec, price, qty) in enumerate(
        [
            ("丝绒哑光口红", "颜色分类:#999 正红", "320.00", "1"),
            ("防晒霜 SPF50+", "规格:50ml", "128.00", "2"),
        ],
        start=1,
    ):
        row = list(order)
        row[1] = f'="3900000000000000001{n}"'
        row[0] = f'="{row[0]}"'
        rows.append(row + [title, spec, price, qty, f"SKU-{n}", "3", "0.00"])
    path = write_csv(tmp_path / "items.csv", TMALL_ITEM_HEADER, rows, encoding="utf-8", bom=True)
    job, report = import_file(path, "tmall")
    assert report["rows"] == 2 and report["orders_created"] == 1
    order = Order.objects.get(external_id="3900000000000000001")
    assert (order.goods_amount_fen, order.paid_fen, order.discount_fen) == (57600, 51840, 5760)
    lines = list(order.lines.order_by("line_no"))
    assert [
        (ln.product_title, ln.spec_text, ln.quantity, ln.unit_price_fen, ln.amount_fen)
        for ln in lines
    ] == [
        ("丝绒哑光口红", "颜色分类:#999 正红", 1, 32000, 32000),
        ("防晒霜 SPF50+", "规格:50ml", 2, 12800, 25600),
    ]
    assert [ln.external_line_id for ln in lines] == ["39000000000000000011", "39000000000000000012"]
    assert [ln.external_sku for ln in lines] == ["SKU-1", "SKU-2"]
    # what was paid is spread over the lines by their amounts, exactly
    assert [ln.paid_fen for ln in lines] == [28800, 23040]
    assert sum(ln.paid_fen for ln in lines) == order.paid_fen


def test_tmall_refunds_close_orders_as_refunded(tmp_path, import_file):
    rows = [
        tmall_row("2001", status="交易关闭", refund="199.00"),
        tmall_row("2002", status="付款以前，卖家或买家主动关闭交易", paid="0.00", paid_at=""),
        tmall_row("2003", status="交易成功", refund="50.00"),
    ]
    path = write_csv(tmp_path / "t.csv", TMALL_HEADER, rows, encoding="gbk")
    import_file(path, "tmall")
    refunded = Order.objects.get(external_id="2001")
    assert (refunded.status, refunded.refunded_fen) == ("refunded", 19900)
    assert refunded.lines.get().refunded_fen == 19900
    assert refunded.lines.get().refunded_quantity == 1
    never_paid = Order.objects.get(external_id="2002")
    assert (never_paid.status, never_paid.paid_fen, never_paid.paid_at) == ("closed", 0, None)
    partial = Order.objects.get(external_id="2003")
    assert (partial.status, partial.refunded_fen) == ("completed", 5000)


def test_jd_export_with_one_row_per_sku(tmp_path, import_file):
    base = {
        "支付方式": "在线支付",
        "下单时间": "2024-03-08 09:12:33",
        "订单金额": "398.00",
        "结算金额": "378.00",
        "余额支付": "0.00",
        "应付金额": "378.00",
        "订单状态": "完成",
        "订单类型": "普通订单",
        "下单帐号": "jd_8f2a1c",
        "客户姓名": "赵敏",
        "客户地址": "北京 北京市 朝阳区 建国路 88号",
        "联系电话": "13711112222",
        "订单备注": "",
        "发票类型": "电子发票",
        "商家备注": "",
        "运费金额": "0.00",
        "付款确认时间": "2024-03-08 09:13:01",
        "订单完成时间": "2024-03-11 18:00:00",
    }
    items = [
        ("100012043978", "洗发水 去屑控油 750ml", "2", "99.00", "XF-750"),
        ("100012043979", "护发素 750ml", "2", "100.00", "HF-750"),
    ]
    rows = []
    for sku_id, name, qty, price, code in items:
        values = dict(
            base,
            订单号="'285467890123",
            商品ID=sku_id,
            商品名称=name,
            订购数量=qty,
            京东价=price,
            货号=code,
        )
        rows.append([values.get(h, "") for h in JD_HEADER])
    path = write_csv(tmp_path / "jd.csv", JD_HEADER, rows, encoding="gbk")
    job, report = import_file(path, "jd")
    assert report["orders_created"] == 1 and report["customers_created"] == 1
    order = Order.objects.get(platform="jd", external_id="285467890123")
    assert order.number == "JD285467890123"
    assert (order.status, order.goods_amount_fen, order.payable_fen, order.paid_fen) == (
        "completed",
        39800,
        37800,
        37800,
    )
    assert order.completed_at == datetime(2024, 3, 11, 10, 0, tzinfo=UTC)
    assert [
        (ln.product_title, ln.quantity, ln.amount_fen) for ln in order.lines.order_by("line_no")
    ] == [
        ("洗发水 去屑控油 750ml", 2, 19800),
        ("护发素 750ml", 2, 20000),
    ]
    assert _identities(order.customer) == [("jd_account", "jd_8f2a1c"), ("phone", "13711112222")]
    assert order.customer.source == "jd"


def test_douyin_sub_orders_and_after_sale_refunds(tmp_path, import_file):
    def row(sub, goods, spec, qty, unit, payable, status, after_sale):
        values = {
            "主订单编号": "6920000000000000001",
            "子订单编号": sub,
            "选购商品": goods,
            "商品规格": spec,
            "商品数量": qty,
            "商品ID": "3600000000000",
            "商家编码": "",
            "商品单价": unit,
            "订单应付金额": payable,
            "运费": "0",
            "支付方式": "抖音支付",
            "收件人": "周**",
            "收件人手机号": "186****0000",
            "省": "广东省",
            "市": "深圳市",
            "区": "南山区",
            "街道": "粤海街道",
            "详细地址": "科技园***",
            "买家留言": "",
            "订单提交时间": "2024-07-01 20:30:00",
            "支付完成时间": "2024-07-01 20:30:10",
            "订单完成时间": "",
            "APP渠道": "抖音",
            "流量来源": "直播",
            "订单状态": status,
            "达人昵称": "某某直播间",
            "售后状态": after_sale,
        }
        return [values[h] for h in DOUYIN_HEADER]

    rows = [
        row("6920000000000000002", "修护晚霜 45g", "45g", "1", "458.00", "399.00", "已完成", "-"),
        row(
            "6920000000000000003",
            "卸妆水 500ml",
            "500ml",
            "2",
            "89.00",
            "158.00",
            "已完成",
            "退款成功",
        ),
    ]
    path = write_csv(tmp_path / "douyin.csv", DOUYIN_HEADER, rows, encoding="utf-8", bom=True)
    job, report = import_file(path, "douyin")
    assert report["rows"] == 2 and report["orders_created"] == 1 and report["rejected"] == []
    order = Order.objects.get(platform="douyin", external_id="6920000000000000001")
    assert order.status == "completed"
    assert (order.payable_fen, order.paid_fen, order.refunded_fen) == (55700, 55700, 15800)
    assert (order.receiver_province, order.receiver_city, order.receiver_district) == (
        "广东省",
        "深圳市",
        "南山区",
    )
    assert order.receiver_address.startswith("广东省 深圳市 南山区 粤海街道")
    lines = list(order.lines.order_by("line_no"))
    assert [(ln.paid_fen, ln.refunded_fen, ln.refunded_quantity) for ln in lines] == [
        (39900, 0, 0),
        (15800, 15800, 2),
    ]
    # no usable identity (masked phone, no buyer account): a customer of its own, no identity
    assert order.customer.identities.count() == 0
    assert order.customer.source == "douyin"


def test_pinduoduo_export(tmp_path, import_file):
    values = {
        "商品": "护手霜礼盒 3支装",
        "订单号": "240618-123456789012345",
        "订单状态": "已发货，待签收",
        "商品总价(元)": "49.00",
        "邮费(元)": "0.00",
        "店铺优惠折扣(元)": "5.00",
        "平台优惠折扣(元)": "2.00",
        "用户实付金额(元)": "42.00",
        "商家实收金额(元)": "44.00",
        "商品数量(件)": "1",
        "收货人": "孙**",
        "手机": "[虚拟号]170****1234",
        "省": "四川省",
        "市": "成都市",
        "区": "武侯区",
        "街道": "***",
        "订单成交时间": "2024-06-18 10:00:00",
        "支付时间": "2024-06-18 09:59:50",
        "发货时间": "2024-06-19 10:00:00",
        "确认收货时间": "",
        "商品id": "5238100000",
        "商品规格": "礼盒装",
        "商家编码-规格维度": "HS-3",
        "售后状态": "无售后或售后取消",
        "快递单号": "YT0000000000",
    }
    path = write_csv(
        tmp_path / "pdd.csv", PDD_HEADER, [[values[h] for h in PDD_HEADER]], encoding="gbk"
    )
    job, report = import_file(path, "pdd")
    assert report["orders_created"] == 1 and report["rejected"] == []
    order = Order.objects.get(platform="pdd", external_id="240618-123456789012345")
    assert (order.status, order.goods_amount_fen, order.discount_fen, order.paid_fen) == (
        "shipped",
        4900,
        700,
        4200,
    )
    assert order.shipped_at == datetime(2024, 6, 19, 2, 0, tzinfo=UTC)
    assert order.lines.get().spec_text == "礼盒装"


def test_youzan_export_with_buyer_phone(tmp_path, import_file):
    values = {
        "订单号": "E20240618123456789012345",
        "订单状态": "交易成功",
        "订单创建时间": "2024-06-18 12:00:00",
        "买家付款时间": "2024-06-18 12:00:30",
        "商品名称": "身体乳 保湿滋润 400ml",
        "商品规格": "香型:白茶",
        "商品编码": "BL-400",
        "商品数量": "1",
        "商品单价": "79.00",
        "商品实际成交金额": "69.00",
        "运费": "0.00",
        "订单实付金额": "69.00",
        "买家昵称": "晴天",
        "下单人手机号": "15800002222",
        "收货人/提货人": "钱多多",
        "收货人手机号/提货人手机号": "15800002222",
        "收货人省份": "湖北省",
        "收货人城市": "武汉市",
        "收货人地区": "洪山区",
        "详细收货地址/提货地址": "珞喻路 1号",
        "订单已退款金额": "0.00",
    }
    path = write_csv(
        tmp_path / "youzan.csv", YOUZAN_HEADER, [[values[h] for h in YOUZAN_HEADER]], bom=True
    )
    job, report = import_file(path, "youzan")
    assert report["orders_created"] == 1
    order = Order.objects.get(platform="youzan")
    assert order.number == "YZE20240618123456789012345"
    assert order.paid_fen == 6900 and order.lines.get().paid_fen == 6900
    assert _identities(order.customer) == [("phone", "15800002222")]
    assert order.customer.name == "钱多多"


def test_xlsx_export_with_a_title_row_and_numeric_ids(tmp_path, import_file):
    rows = [tmall_row("3800000000626322189"), tmall_row("3800000000626322190", buyer="tb_dan")]
    path = write_xlsx(
        tmp_path / "订单导出.xlsx",
        TMALL_HEADER,
        rows,
        title="订单报表 2024-06-01 至 2024-06-30",
        numbers_as_numbers=["订单编号"],
    )
    job, report = import_file(path, "tmall")
    assert job.file_format == "xlsx" and job.header_row == 2
    # 19-digit ids stored as numbers have lost digits: refused, never imported under a wrong id
    assert report["orders_created"] == 0
    assert [r["line"] for r in report["rejected"]] == [3, 4]
    assert "lost digits" in report["rejected"][0]["reason"]


def test_xlsx_export_with_text_ids_and_date_cells(tmp_path, import_file):
    rows = [tmall_row("3800000000626322189", created=datetime(2024, 6, 18, 20, 1, 2))]
    path = write_xlsx(tmp_path / "orders.xlsx", TMALL_HEADER, rows)
    job, report = import_file(path, "tmall")
    assert report["orders_created"] == 1 and report["rejected"] == []
    order = Order.objects.get()
    assert order.placed_at == datetime(2024, 6, 18, 12, 1, 2, tzinfo=UTC)


def test_utf16_tab_separated_text_from_excel(tmp_path, import_file):
    path = tmp_path / "unicode.txt"
    data = "\t".join(TMALL_HEADER) + "\r\n" + "\t".join(tmall_row("4001")) + "\r\n"
    path.write_bytes(data.encode("utf-16"))
    job, report = import_file(path, "tmall")
    assert report["orders_created"] == 1
    assert Order.objects.get().external_id == "4001"


def test_imported_lines_total_and_customers_are_consistent(tmp_path, import_file):
    rows = [tmall_row(str(5000 + i), buyer=f"tb_{i % 3}") for i in range(9)]
    path = write_csv(tmp_path / "t.csv", TMALL_HEADER, rows, encoding="gbk")
    job, report = import_file(path, "tmall")
    assert report["orders_created"] == 9
    # tb_0..tb_2 share the receiver phone 13812345678: one person
    assert report["customers_created"] == 1
    assert Customer.objects.count() == 1
    assert Identity.objects.filter(kind="tmall_buyer").count() == 3
    assert OrderLine.objects.count() == 9
