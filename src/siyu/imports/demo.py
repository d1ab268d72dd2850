"""Demo: the brand's last quarter of Tmall orders, imported the way a merchant would (a GBK export
with ="..." ids, masked receivers and a couple of broken rows), so the imports page and the pool
show a real import and its report."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from siyu.core.access import Actor
from siyu.core.demodata import DemoContext

from . import services

HEADER = [
    "订单编号", "子订单编号", "买家会员名", "买家应付货款", "买家应付邮费", "总金额", "买家实际支付金额",
    "订单状态", "收货人姓名", "收货地址", "联系手机", "订单创建时间", "订单付款时间", "宝贝标题",
    "商品属性", "价格", "购买数量", "宝贝总数量", "退款金额", "确认收货时间",
]  # fmt: skip
PRODUCTS = [
    ("玻尿酸补水精华液 30ml", "规格:30ml", 15900),
    ("氨基酸洁面乳 温和清洁 120g", "规格:120g", 6900),
    ("烟酰胺美白面膜 10片装", "片数:10片", 9900),
    ("防晒霜 SPF50+ PA++++ 50ml", "规格:50ml", 12800),
    ("丝绒哑光口红 经典色", "颜色分类:#999 正红", 32000),
    ("修护晚霜 45g", "规格:45g", 45800),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "芳娜秀英敏静丽强磊军洋艳杰娟涛明超霞婷宇"
REGIONS = [
    "浙江省 杭州市 西湖区",
    "江苏省 苏州市 姑苏区",
    "广东省 深圳市 南山区",
    "上海 上海市 浦东新区",
    "四川省 成都市 锦江区",
]
STATUSES = ["交易成功"] * 7 + ["卖家已发货，等待买家确认", "买家已付款，等待卖家发货", "交易关闭"]


def _export(ctx: DemoContext, orders: int) -> bytes:
    rng = ctx.rng
    buyers = []
    for i in range(max(10, orders // 2)):
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(("", rng.choice(GIVEN)))
        phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        buyers.append((f"tb_demo{i:04d}", name, phone, rng.random() < 0.4))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    order_id = 3800000000600000000 + ctx.seed
    for n in range(orders):
        order_id += rng.randrange(7, 5000)
        nick, name, phone, masked = rng.choice(buyers)
        items = [rng.choice(PRODUCTS) for _ in range(1 if rng.random() < 0.75 else 2)]
        goods = sum(price for _title, _spec, price in items)
        shipping = 0 if goods >= 9900 else 1000
        status = rng.choice(STATUSES)
        created = timezone.localtime(ctx.now) - timedelta(
            days=rng.randrange(1, 90), minutes=rng.randrange(1440)
        )
        paid = goods + shipping
        refund = paid if status == "交易关闭" else 0
        region = rng.choice(REGIONS)
        for k, (title, spec, price) in enumerate(items, start=1):
            writer.writerow(
                [
                    f'="{order_id}"',
                    f'="{order_id}{k}"',
                    nick,
                    f"{goods / 100:.2f}",
                    f"{shipping / 100:.2f}",
                    f"{paid / 100:.2f}",
                    f"{paid / 100:.2f}",
                    status,
                    name[0] + "**" if masked else name,
                    f"{region} ***"
                    if masked
                    else f"{region} 文{rng.randrange(1, 99)}路 {rng.randrange(1, 300)}号",
                    f"{phone[:3]}****{phone[-4:]}" if masked else f"'{phone}",
                    created.strftime("%Y-%m-%d %H:%M:%S"),
                    (created + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S"),
                    title,
                    spec,
                    f"{price / 100:.2f}",
                    "1",
                    str(len(items)),
                    f"{refund / 100:.2f}",
                    "",
                ]
            )
        if n in (17, 230):  # what merchants really meet: a hand-edited row or two
            writer.writerow(["", "", nick, "99.00", "0", "99.00", "99.00", "交易成功"] + [""] * 12)
    return out.getvalue().encode("gb18030")


def build(ctx: DemoContext) -> None:
    orders = max(50, min(400, ctx.customers // 10))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ExportOrderList-demo.csv"
        path.write_bytes(_export(ctx, orders))
        job = services.import_path(path, preset="tmall", actor=Actor.system("demo"))
    ctx.log(services.summary_line(job))
