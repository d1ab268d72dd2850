"""What each platform's order export looks like: its column titles and its status words.

A preset maps canonical fields (below) to the column titles a platform uses, tolerating the
variants different export versions carry, and maps the platform's status words to siyu's order
states. `generic` has no columns of its own: a TOML mapping file (docs/imports.md) supplies them,
and a mapping file may also extend a platform preset (a renamed column, a new status word).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.orders.models import OrderStatus, Platform

from .rules import CHINA_OFFSET, clean_header, clean_word

S = OrderStatus

# Canonical fields. Order fields are read from the first row of an order; line fields from every
# row (one row = one order line when a platform splits an order's items over several rows).
ORDER_FIELDS = (
    "order_id",  # platform order id (required)
    "status",  # platform status word (required)
    "placed_at",  # when the order was placed (required)
    "buyer_id",  # platform buyer account / nickname: a strong identity
    "buyer_name",  # buyer nickname, when different from the id column
    "buyer_phone",  # the buyer's own mobile (Youzan 下单人手机号)
    "paid_at",
    "shipped_at",
    "completed_at",
    "closed_at",
    "goods_amount",  # goods total before order discounts
    "shipping",  # postage paid by the buyer
    "discount",  # order-level discounts
    "payable",  # what the buyer had to pay
    "paid",  # what the buyer actually paid
    "refunded",  # money refunded to the buyer
    "receiver_name",
    "receiver_phone",  # mobile of the receiver (masked 138****1234 in many exports)
    "receiver_tel",  # landline, used when there is no mobile column value
    "receiver_address",
    "province",
    "city",
    "district",
    "street",
    "buyer_note",
    "total_quantity",  # total items of the order (used when rows carry no per-line quantity)
)
LINE_FIELDS = (
    "line_id",  # platform sub-order id (子订单编号)
    "title",  # product title
    "spec",  # spec / sales attributes text
    "sku",  # merchant SKU code (商家编码)
    "quantity",
    "unit_price",
    "line_amount",  # line total before discounts
    "line_paid",  # what the buyer paid for the line
    "line_refunded",  # money refunded for the line
    "after_sale",  # per-line after-sale status word (售后状态)
)
FIELDS = ORDER_FIELDS + LINE_FIELDS
REQUIRED = ("order_id", "status", "placed_at")
TARGET_STATES = frozenset(
    {S.PENDING_PAYMENT, S.PAID, S.SHIPPED, S.COMPLETED, S.CLOSED, S.REFUNDED, S.CANCELLED}
)


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class Preset:
    key: str
    platform: str
    label: str
    number_prefix: str
    columns: dict[str, tuple[str, ...]]
    statuses: dict[str, str]
    # after-sale words meaning the line's money went back to the buyer
    refund_words: frozenset[str] = frozenset()
    # strptime format for dates that are not ISO-like (generic files)
    date_format: str | None = None
    utc_offset: timedelta = CHINA_OFFSET
    example: str = ""
    extra_required: tuple[str, ...] = ()
    status_lookup: dict[str, str] = field(init=False, repr=False, compare=False)
    refund_lookup: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "status_lookup", {clean_word(k): v for k, v in self.statuses.items()}
        )
        object.__setattr__(
            self, "refund_lookup", frozenset(clean_word(w) for w in self.refund_words)
        )

    @property
    def required(self) -> tuple[str, ...]:
        return REQUIRED + self.extra_required

    def map_status(self, word: str) -> str | None:
        return self.status_lookup.get(clean_word(word))

    def header_index(self, headers: list[str]) -> tuple[dict[str, int], list[str]]:
        """Which column holds each field; and the required fields' titles that are missing."""
        position: dict[str, int] = {}
        for index, title in enumerate(headers):
            key = clean_header(title)
            if key and key not in position:
                position[key] = index
        found: dict[str, int] = {}
        for name, aliases in self.columns.items():
            for alias in aliases:
                index = position.get(clean_header(alias))
                if index is not None:
                    found[name] = index
                    break
        missing = [
            self.columns[name][0] if self.columns.get(name) else name
            for name in self.required
            if name not in found
        ]
        if "title" not in found and "title" in self.columns:
            missing.append(self.columns["title"][0])
        return found, missing


def _cols(**columns: tuple[str, ...] | str) -> dict[str, tuple[str, ...]]:
    return {k: (v,) if isinstance(v, str) else tuple(v) for k, v in columns.items()}


TMALL = Preset(
    key="tmall",
    platform=Platform.TMALL,
    label="Tmall / Taobao (天猫/淘宝)",
    number_prefix="TM",
    # 千牛/卖家中心 "订单报表" (ExportOrderList), also its per-item variant where each row is one
    # 子订单 with the order columns repeated.
    columns=_cols(
        order_id=("订单编号", "主订单编号", "订单号"),
        buyer_id=("买家会员名", "买家昵称", "买家会员号"),
        goods_amount=("买家应付货款", "商品总价"),
        shipping=("买家应付邮费", "邮费"),
        payable=("总金额", "应付金额"),
        paid=("买家实际支付金额", "实付金额", "实际支付金额"),
        status=("订单状态",),
        buyer_note=("买家留言",),
        receiver_name=("收货人姓名", "收货人"),
        receiver_address=("收货地址", "收货地址 "),
        receiver_tel=("联系电话",),
        receiver_phone=("联系手机", "手机号", "收货人手机号"),
        placed_at=("订单创建时间", "创建时间", "下单时间"),
        paid_at=("订单付款时间", "付款时间"),
        shipped_at=("发货时间",),
        completed_at=("确认收货时间", "交易成功时间"),
        closed_at=("交易关闭时间",),
        title=("宝贝标题", "商品标题", "标题"),
        total_quantity=("宝贝总数量",),
        quantity=("购买数量", "宝贝数量", "商品数量"),
        unit_price=("价格", "商品价格", "宝贝单价", "单价"),
        spec=("商品属性", "销售属性", "宝贝属性", "颜色/尺码", "修改后的sku"),
        sku=("商家编码", "外部系统编号", "商家编码(SKU)"),
        line_id=("子订单编号", "子订单号"),
        refunded=("退款金额",),
        line_refunded=("子订单退款金额",),
        after_sale=("退款状态", "售后状态"),
    ),
    statuses={
        "等待买家付款": S.PENDING_PAYMENT,
        "买家已付款，等待卖家发货": S.PAID,
        "等待卖家发货": S.PAID,
        "买家已付款": S.PAID,
        "卖家部分发货": S.SHIPPED,
        "部分发货": S.SHIPPED,
        "卖家已发货，等待买家确认": S.SHIPPED,
        "等待买家确认收货": S.SHIPPED,
        "卖家已发货": S.SHIPPED,
        "交易成功": S.COMPLETED,
        "交易关闭": S.CLOSED,
        "付款以前，卖家或买家主动关闭交易": S.CLOSED,
        "付款以后用户退款成功，交易自动关闭": S.REFUNDED,
    },
    refund_words=frozenset({"退款成功", "已退款"}),
    example=(
        "订单编号,买家会员名,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,"
        "收货人姓名,收货地址,联系手机,订单创建时间,订单付款时间,宝贝标题,宝贝总数量,退款金额"
    ),
)

JD = Preset(
    key="jd",
    platform=Platform.JD,
    label="JD (京东)",
    number_prefix="JD",
    # 京东商家后台 订单导出: one row per SKU, order columns repeated.
    columns=_cols(
        order_id=("订单号", "订单编号"),
        title=("商品名称",),
        quantity=("订购数量", "商品数量"),
        unit_price=("京东价", "商品单价"),
        goods_amount=("订单金额",),
        payable=("应付金额",),
        paid=("实付金额",),
        shipping=("运费金额", "运费"),
        status=("订单状态",),
        placed_at=("下单时间",),
        paid_at=("付款确认时间", "付款时间"),
        completed_at=("订单完成时间",),
        buyer_id=("下单帐号", "下单账号", "买家账号"),
        receiver_name=("客户姓名", "收货人姓名"),
        receiver_address=("客户地址", "收货地址"),
        receiver_phone=("联系电话", "手机号"),
        buyer_note=("订单备注",),
        sku=("货号", "商家SKU"),
        line_id=("商品ID", "SKU ID"),
        refunded=("退款金额",),
    ),
    statuses={
        "等待付款": S.PENDING_PAYMENT,
        "等待出库": S.PAID,
        "等待发货": S.PAID,
        "锁定": S.PAID,
        "暂停": S.PAID,
        "等待确认收货": S.SHIPPED,
        "已出库": S.SHIPPED,
        "完成": S.COMPLETED,
        "已完成": S.COMPLETED,
        "已取消": S.CLOSED,
        "(删除)已取消": S.CLOSED,
        "取消": S.CLOSED,
        "退款成功": S.REFUNDED,
    },
    example="订单号,商品ID,商品名称,订购数量,下单时间,京东价,订单金额,应付金额,订单状态,下单帐号,"
    "客户姓名,客户地址,联系电话",
)

DOUYIN = Preset(
    key="douyin",
    platform=Platform.DOUYIN,
    label="Douyin (抖店)",
    number_prefix="DY",
    # 抖店 订单管理 → 导出 (商品维度): one row per 子订单; 订单应付金额 is the sub-order's amount.
    columns=_cols(
        order_id=("主订单编号",),
        line_id=("子订单编号",),
        title=("选购商品", "商品名称"),
        spec=("商品规格",),
        quantity=("商品数量",),
        unit_price=("商品单价", "商品金额"),
        line_paid=("订单应付金额",),
        shipping=("运费",),
        sku=("商家编码",),
        receiver_name=("收件人",),
        receiver_phone=("收件人手机号", "收件人电话"),
        province=("省",),
        city=("市",),
        district=("区",),
        street=("街道",),
        receiver_address=("详细地址",),
        buyer_note=("买家留言",),
        placed_at=("订单提交时间", "下单时间"),
        paid_at=("支付完成时间",),
        shipped_at=("发货时间",),
        completed_at=("订单完成时间",),
        status=("订单状态",),
        after_sale=("售后状态",),
        buyer_id=("用户ID", "买家ID", "抖音号"),
        buyer_name=("用户昵称", "买家昵称"),
    ),
    statuses={
        "待支付": S.PENDING_PAYMENT,
        "待付款": S.PENDING_PAYMENT,
        "待发货": S.PAID,
        "备货中": S.PAID,
        "已支付": S.PAID,
        "部分发货": S.SHIPPED,
        "已发货": S.SHIPPED,
        "待收货": S.SHIPPED,
        "已完成": S.COMPLETED,
        "已关闭": S.CLOSED,
        "已取消": S.CLOSED,
    },
    refund_words=frozenset({"退款成功", "已全额退款", "退货退款成功", "售后完成"}),
    example="主订单编号,子订单编号,选购商品,商品规格,商品数量,商品单价,订单应付金额,收件人,"
    "收件人手机号,省,市,区,街道,详细地址,订单提交时间,支付完成时间,订单状态,售后状态",
)

PDD = Preset(
    key="pdd",
    platform=Platform.PDD,
    label="Pinduoduo (拼多多)",
    number_prefix="PDD",
    # 拼多多商家后台 订单查询 → 导出: one row per order.
    columns=_cols(
        order_id=("订单号",),
        title=("商品", "商品名称"),
        spec=("商品规格",),
        quantity=("商品数量(件)", "商品数量"),
        goods_amount=("商品总价(元)", "商品总价"),
        shipping=("邮费(元)", "邮费"),
        discount=("店铺优惠折扣(元)",),
        paid=("用户实付金额(元)", "用户实付金额"),
        status=("订单状态",),
        after_sale=("售后状态",),
        receiver_name=("收货人",),
        receiver_phone=("手机", "收货人手机号"),
        province=("省",),
        city=("市",),
        district=("区",),
        street=("街道",),
        receiver_address=("详细地址", "收货地址"),
        placed_at=("订单成交时间", "支付时间", "订单创建时间"),
        paid_at=("支付时间",),
        shipped_at=("发货时间",),
        completed_at=("确认收货时间",),
        sku=("商家编码-规格维度", "商家编码-SKU维度", "商家编码"),
        buyer_note=("买家留言",),
        buyer_id=("买家ID", "用户ID"),
    ),
    statuses={
        "待支付": S.PENDING_PAYMENT,
        "待发货": S.PAID,
        "已发货，待签收": S.SHIPPED,
        "已发货": S.SHIPPED,
        "已签收": S.COMPLETED,
        "已收货": S.COMPLETED,
        "已取消": S.CLOSED,
        "未发货，退款成功": S.REFUNDED,
        "已发货，退款成功": S.REFUNDED,
        "已签收，退款成功": S.REFUNDED,
    },
    refund_words=frozenset({"退款成功", "退货退款成功"}),
    example="订单号,商品,商品规格,商品数量(件),商品总价(元),邮费(元),用户实付金额(元),订单状态,"
    "售后状态,收货人,手机,省,市,区,街道,订单成交时间,支付时间",
)

YOUZAN = Preset(
    key="youzan",
    platform=Platform.YOUZAN,
    label="Youzan (有赞)",
    number_prefix="YZ",
    # 有赞 订单 → 导出 (订单商品明细): one row per item, order columns repeated.
    columns=_cols(
        order_id=("订单号", "订单编号"),
        status=("订单状态",),
        placed_at=("订单创建时间", "下单时间", "创建时间"),
        paid_at=("买家付款时间", "付款时间"),
        shipped_at=("发货时间", "卖家发货时间"),
        completed_at=("交易成功时间", "订单完成时间"),
        title=("商品名称",),
        spec=("商品规格", "规格"),
        sku=("商品编码", "规格编码", "商家编码"),
        quantity=("商品数量",),
        unit_price=("商品单价",),
        line_paid=("商品实际成交金额", "商品实付金额"),
        payable=("订单应付金额", "应付金额"),
        paid=("订单实付金额", "实付金额"),
        shipping=("运费",),
        buyer_name=("买家昵称", "粉丝昵称", "下单人昵称"),
        buyer_id=("买家ID", "客户ID"),
        buyer_phone=("下单人手机号", "买家手机号"),
        receiver_name=("收货人/提货人", "收货人", "提货人"),
        receiver_phone=("收货人手机号/提货人手机号", "收货人手机号", "提货人手机号"),
        province=("收货人省份", "省"),
        city=("收货人城市", "市"),
        district=("收货人地区", "区"),
        receiver_address=("详细收货地址/提货地址", "详细收货地址", "收货地址"),
        buyer_note=("买家备注", "买家留言"),
        refunded=("订单已退款金额", "已退款金额", "退款金额"),
        after_sale=("商品退款状态", "退款状态"),
    ),
    statuses={
        "待付款": S.PENDING_PAYMENT,
        "待成团": S.PAID,
        "待接单": S.PAID,
        "待发货": S.PAID,
        "部分发货": S.SHIPPED,
        "已发货": S.SHIPPED,
        "待收货": S.SHIPPED,
        "交易成功": S.COMPLETED,
        "已完成": S.COMPLETED,
        "交易关闭": S.CLOSED,
        "已关闭": S.CLOSED,
    },
    refund_words=frozenset({"退款成功", "已退款", "退款完成"}),
    example="订单号,订单状态,订单创建时间,买家付款时间,商品名称,商品规格,商品数量,商品单价,"
    "商品实际成交金额,订单实付金额,买家昵称,下单人手机号,收货人/提货人,收货人手机号/提货人手机号,"
    "详细收货地址/提货地址",
)

GENERIC = Preset(
    key="generic",
    platform=Platform.OTHER,
    label=gettext_lazy("Generic (mapping file)"),
    number_prefix="EX",
    columns={},
    statuses={},
)

PRESETS: dict[str, Preset] = {p.key: p for p in (TMALL, JD, DOUYIN, PDD, YOUZAN, GENERIC)}
PRESET_CHOICES = [(p.key, p.label) for p in PRESETS.values()]
_PREFIX_BY_PLATFORM = {p.platform: p.number_prefix for p in PRESETS.values()}


def _names(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    raise MappingError(_("%(where)s must be a column title or a list of titles") % {"where": where})


def parse_mapping(text: str, base: Preset) -> Preset:
    """Apply a TOML mapping file to a preset (docs/imports.md describes the format)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(_("The mapping file is not valid TOML: %(error)s") % {"error": exc})
    known = {
        "platform",
        "preset",
        "columns",
        "statuses",
        "refund_words",
        "date_format",
        "utc_offset",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise MappingError(
            _("Unknown keys in the mapping file: %(keys)s") % {"keys": ", ".join(unknown)}
        )
    if "preset" in data:
        name = data["preset"]
        if name not in PRESETS:
            raise MappingError(_("Unknown preset %(name)r in the mapping file") % {"name": name})
        if base.key == "generic":
            base = PRESETS[name]
    columns = dict(base.columns)
    raw_columns = data.get("columns", {})
    if not isinstance(raw_columns, dict):
        raise MappingError(_('[columns] must be a table of field = "column title"'))
    for name, value in raw_columns.items():
        if name not in FIELDS:
            raise MappingError(
                _("Unknown field %(name)r in [columns]; known fields: %(fields)s")
                % {"name": name, "fields": ", ".join(FIELDS)}
            )
        titles = _names(value, f"columns.{name}")
        # new titles are tried first, the preset's own titles still work
        columns[name] = titles + tuple(t for t in columns.get(name, ()) if t not in titles)
    statuses = dict(base.statuses)
    raw_statuses = data.get("statuses", {})
    if not isinstance(raw_statuses, dict):
        raise MappingError(_('[statuses] must be a table of "platform word" = "state"'))
    for word, state in raw_statuses.items():
        if state not in TARGET_STATES:
            raise MappingError(
                _("Status %(word)r maps to %(state)r; use one of: %(states)s")
                % {"word": word, "state": state, "states": ", ".join(sorted(TARGET_STATES))}
            )
        statuses[word] = state
    platform = data.get("platform", base.platform)
    if platform not in Platform.values:
        raise MappingError(
            _("Unknown platform %(name)r; use one of: %(names)s")
            % {"name": platform, "names": ", ".join(Platform.values)}
        )
    refund_words = base.refund_words | frozenset(data.get("refund_words", []))
    offset = base.utc_offset
    if "utc_offset" in data:
        try:
            hours = float(data["utc_offset"])
        except (TypeError, ValueError):
            raise MappingError(_("utc_offset must be a number of hours, such as 8"))
        offset = timedelta(hours=hours)
    mapped = replace(
        base,
        key=base.key,
        platform=platform,
        number_prefix=_PREFIX_BY_PLATFORM.get(platform, base.number_prefix),
        columns=columns,
        statuses=statuses,
        refund_words=refund_words,
        date_format=data.get("date_format", base.date_format),
        utc_offset=offset,
    )
    if not mapped.columns:
        raise MappingError(_("The mapping file maps no columns"))
    for name in (*REQUIRED, "title"):
        if name not in mapped.columns:
            raise MappingError(_("The mapping file must map the field %(name)r") % {"name": name})
    if not mapped.statuses:
        raise MappingError(_("The mapping file must map the platform's status words in [statuses]"))
    return mapped


def resolve_preset(key: str, mapping_text: str = "") -> Preset:
    if key not in PRESETS:
        raise MappingError(_("Unknown preset %(name)r") % {"name": key})
    preset = PRESETS[key]
    if mapping_text.strip():
        return parse_mapping(mapping_text, preset)
    if key == "generic":
        raise MappingError(_("The generic preset needs a mapping file (--mapping MAP.toml)"))
    return preset
