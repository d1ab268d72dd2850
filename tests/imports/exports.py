"""Export files shaped like the real thing, for the import tests.

Each platform's sample uses that platform's column titles and status words, with the quirks merchants
meet: GBK or BOM encodings, ="..." and apostrophe-guarded ids, masked phones, items split over
several rows, title lines above the header, spaces and full-width forms in the titles.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

TMALL_HEADER = [
    "订单编号",
    "买家会员名",
    "买家支付宝账号",
    "买家应付货款",
    "买家应付邮费",
    "买家支付积分",
    "总金额",
    "返点积分",
    "买家实际支付金额",
    "买家实际支付积分",
    "订单状态",
    "买家留言",
    "收货人姓名",
    "收货地址 ",  # a trailing space, as some exports have
    "运送方式",
    "联系电话 ",
    "联系手机",
    "订单创建时间",
    "订单付款时间 ",
    "宝贝标题 ",
    "宝贝种类 ",
    "物流单号 ",
    "物流公司",
    "订单备注",
    "宝贝总数量",
    "店铺Id",
    "店铺名称",
    "订单关闭原因",
    "退款金额",
]


def tmall_row(
    order_id: str,
    *,
    buyer: str = "tb_alice",
    goods: str = "199.00",
    shipping: str = "0.00",
    total: str | None = None,
    paid: str | None = None,
    status: str = "交易成功",
    receiver: str = "张三",
    address: str = "浙江省 杭州市 西湖区 文三路 138号(310000)",
    phone: str = "'13812345678",
    created: str = "2024-06-18 20:01:02",
    paid_at: str = "2024-06-18 20:01:30",
    title: str = "玻尿酸补水精华液 30ml",
    quantity: str = "1",
    refund: str = "0.00",
) -> list[str]:
    total = total if total is not None else goods
    paid = paid if paid is not None else total
    return [
        f'="{order_id}"',
        buyer,
        "ali***@163.com",
        goods,
        shipping,
        "0",
        total,
        "0",
        paid,
        "0",
        status,
        "",
        receiver,
        address,
        "快递",
        "",
        phone,
        created,
        paid_at,
        title,
        "1",
        "No:7789",
        "中通快递",
        "",
        quantity,
        "100245",
        "siyu旗舰店",
        "",
        refund,
    ]


# Tmall with one row per item (子订单): the order columns repeat on every row.
TMALL_ITEM_HEADER = [
    "订单编号",
    "子订单编号",
    "买家会员名",
    "买家应付货款",
    "买家应付邮费",
    "总金额",
    "买家实际支付金额",
    "订单状态",
    "收货人姓名",
    "收货地址",
    "联系手机",
    "订单创建时间",
    "订单付款时间",
    "宝贝标题",
    "商品属性",
    "价格",
    "购买数量",
    "商家编码",
    "宝贝总数量",
    "退款金额",
]

JD_HEADER = [
    "订单号",
    "商品ID",
    "商品名称",
    "订购数量",
    "支付方式",
    "下单时间",
    "京东价",
    "订单金额",
    "结算金额",
    "余额支付",
    "应付金额",
    "订单状态",
    "订单类型",
    "下单帐号",
    "客户姓名",
    "客户地址",
    "联系电话",
    "订单备注",
    "发票类型",
    "商家备注",
    "运费金额",
    "付款确认时间",
    "货号",
    "订单完成时间",
]

DOUYIN_HEADER = [
    "主订单编号",
    "子订单编号",
    "选购商品",
    "商品规格",
    "商品数量",
    "商品ID",
    "商家编码",
    "商品单价",
    "订单应付金额",
    "运费",
    "支付方式",
    "收件人",
    "收件人手机号",
    "省",
    "市",
    "区",
    "街道",
    "详细地址",
    "买家留言",
    "订单提交时间",
    "支付完成时间",
    "订单完成时间",
    "APP渠道",
    "流量来源",
    "订单状态",
    "达人昵称",
    "售后状态",
]

PDD_HEADER = [
    "商品",
    "订单号",
    "订单状态",
    "商品总价(元)",
    "邮费(元)",
    "店铺优惠折扣(元)",
    "平台优惠折扣(元)",
    "用户实付金额(元)",
    "商家实收金额(元)",
    "商品数量(件)",
    "收货人",
    "手机",
    "省",
    "市",
    "区",
    "街道",
    "订单成交时间",
    "支付时间",
    "发货时间",
    "确认收货时间",
    "商品id",
    "商品规格",
    "商家编码-规格维度",
    "售后状态",
    "快递单号",
]

YOUZAN_HEADER = [
    "订单号",
    "订单状态",
    "订单创建时间",
    "买家付款时间",
    "商品名称",
    "商品规格",
    "商品编码",
    "商品数量",
    "商品单价",
    "商品实际成交金额",
    "运费",
    "订单实付金额",
    "买家昵称",
    "下单人手机号",
    "收货人/提货人",
    "收货人手机号/提货人手机号",
    "收货人省份",
    "收货人城市",
    "收货人地区",
    "详细收货地址/提货地址",
    "订单已退款金额",
]


def csv_bytes(
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    delimiter: str = ",",
    preamble: list[str] = (),
) -> bytes:
    buffer = io.StringIO()
    for line in preamble:
        buffer.write(line + "\r\n")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode(encoding)
    if bom and encoding.replace("-", "").lower() == "utf8":
        data = b"\xef\xbb\xbf" + data
    return data


def write_csv(path: Path, header, rows, **options) -> Path:
    path.write_bytes(csv_bytes(header, rows, **options))
    return path


def write_xlsx(path: Path, header, rows, *, title: str = "", numbers_as_numbers=()) -> Path:
    """An XLSX as platforms produce it; `numbers_as_numbers` are column titles whose digits are
    written as numeric cells (how long ids end up when a workbook was re-saved)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "订单"
    if title:
        ws.append([title])
    ws.append(header)
    numeric = {header.index(c) for c in numbers_as_numbers}
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            if isinstance(value, str) and value.startswith(('="', "'")):
                value = value.strip("='\"")  # XLSX keeps text as text: no CSV guards
            if i in numeric and str(value).isdigit():
                value = int(value)
            cells.append(value)
        ws.append(cells)
    wb.save(path)
    return path
