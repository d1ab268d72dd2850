"""The same Tmall import written the way django-import-export is meant to be used, for the benchmark.

A `ModelResource` over Order keyed by (platform, external_id): each row is cleaned with siyu's own
cell rules (imports.rules), its buyer is found or created through the identities table, the order
is created or updated by the resource, and `after_save_instance` adds the row's line, spreads the
paid and refunded money over the order's lines, writes the "imported" history row and the
customer's touch. Orders with a bad row are skipped whole, as siyu does (checked in
`before_import`). The result is the same customers, identities, orders and lines as
`siyu import-orders --preset tmall` on the same file; the benchmark checks that.

Used only by bench/import_orders.py; django-import-export is a dev dependency.
"""

from __future__ import annotations

import contextlib

import tablib
from import_export import fields, resources

from siyu.core.money import split_proportionally
from siyu.customers.identity import choose_customer, identity_hash, normalize_identity
from siyu.customers.models import Customer, Identity, Touch
from siyu.imports.presets import TMALL
from siyu.imports.rules import (
    BadValue,
    clean_id,
    clean_text,
    parse_datetime,
    parse_fen,
    parse_quantity,
    split_region,
)
from siyu.orders.models import Order, OrderLine, OrderStatusChange

REF = "import:die"
PAID_STATES = {"paid", "shipped", "completed", "refunded"}


def _aware(naive_utc):
    from datetime import UTC

    return naive_utc.replace(tzinfo=UTC) if naive_utc else None


def parse_row(row: dict) -> dict:
    """One Tmall row, cleaned: the order's values and this row's line. Raises BadValue."""
    external_id = clean_id(row["订单编号"], label="订单编号")
    if not external_id:
        raise BadValue("missing order id")
    placed_at = parse_datetime(row["订单创建时间"], label="订单创建时间")
    if placed_at is None:
        raise BadValue("missing order time")
    status = TMALL.map_status(row["订单状态"])
    if status is None:
        raise BadValue(f"unknown status {row['订单状态']!r}")
    title = clean_text(row["宝贝标题"], 255)
    if not title:
        raise BadValue("missing product title")
    paid_at = parse_datetime(row["订单付款时间"], label="订单付款时间")
    goods = parse_fen(row["买家应付货款"], label="买家应付货款")
    shipping = parse_fen(row["买家应付邮费"], label="买家应付邮费") or 0
    payable = parse_fen(row["总金额"], label="总金额")
    paid_col = parse_fen(row["买家实际支付金额"], label="买家实际支付金额")
    refunded = parse_fen(row["退款金额"], label="退款金额") or 0
    price = parse_fen(row["价格"], label="价格")
    quantity = parse_quantity(row["购买数量"], label="购买数量") or 1
    was_paid = status in PAID_STATES or (paid_at is not None and status != "pending_payment")
    paid = (paid_col if paid_col is not None else payable) if was_paid else 0
    if was_paid and paid > 0:
        if status == "refunded" and refunded == 0:
            refunded = paid
        elif refunded >= paid and status in ("closed", "completed", "paid", "shipped"):
            status = "refunded"
    if refunded > paid:
        raise BadValue("refund more than paid")
    address = clean_text(row["收货地址"], 500)
    province, city, district = split_region(address)
    return {
        "external_id": external_id,
        "status": status,
        "goods": goods,
        "shipping": shipping,
        "payable": payable,
        "paid": paid,
        "refunded": refunded,
        "discount": max(0, goods + shipping - (paid if was_paid and paid else payable)),
        "placed_at": placed_at,
        "paid_at": paid_at if was_paid else None,
        "completed_at": parse_datetime(row["确认收货时间"], label="确认收货时间"),
        "buyer": clean_text(row["买家会员名"], 100),
        "receiver_name": clean_text(row["收货人姓名"], 100),
        "receiver_phone": clean_text(row["联系手机"], 40),
        "address": address,
        "province": province,
        "city": city,
        "district": district,
        "line": {
            "external_line_id": clean_id(row["子订单编号"], label="子订单编号"),
            "product_title": title,
            "spec_text": clean_text(row["商品属性"], 255),
            "external_sku": clean_text(row["商家编码"], 64),
            "quantity": quantity,
            "unit_price_fen": price,
            "amount_fen": price * quantity,
        },
    }


class TmallOrderResource(resources.ModelResource):
    platform = fields.Field(attribute="platform", column_name="platform")
    external_id = fields.Field(attribute="external_id", column_name="external_id")

    class Meta:
        model = Order
        import_id_fields = ("platform", "external_id")
        fields = (
            "platform",
            "external_id",
            "number",
            "customer",
            "channel",
            "status",
            "goods_amount_fen",
            "discount_fen",
            "shipping_fen",
            "payable_fen",
            "paid_fen",
            "refunded_fen",
            "placed_at",
            "paid_at",
            "completed_at",
            "receiver_name",
            "receiver_phone",
            "receiver_address",
            "receiver_province",
            "receiver_city",
            "receiver_district",
        )
        skip_diff = True  # no HTML diffs: the fastest way the library offers

    def before_import(self, dataset, **kwargs):
        """Orders with any bad row are skipped whole (siyu rejects them whole too)."""
        self.bad_orders = set()
        for raw in dataset.dict:
            try:
                parse_row(raw)
            except BadValue:
                with contextlib.suppress(BadValue):
                    self.bad_orders.add(clean_id(raw["订单编号"]))

    def before_import_row(self, row, **kwargs):
        parsed = parse_row(row)  # a BadValue makes this row an error
        if parsed["external_id"] in self.bad_orders:
            raise BadValue("order has a bad row")
        row["_parsed"] = parsed
        row["platform"] = "tmall"
        row["external_id"] = parsed["external_id"]
        row["number"] = f"TM{parsed['external_id']}"
        row["customer"] = self._customer_for(parsed)
        row["channel"] = "platform"
        row["status"] = parsed["status"]
        row["goods_amount_fen"] = parsed["goods"]
        row["discount_fen"] = parsed["discount"]
        row["shipping_fen"] = parsed["shipping"]
        row["payable_fen"] = parsed["payable"]
        row["paid_fen"] = parsed["paid"]
        row["refunded_fen"] = parsed["refunded"]
        row["placed_at"] = _aware(parsed["placed_at"])
        row["paid_at"] = _aware(parsed["paid_at"])
        row["completed_at"] = _aware(parsed["completed_at"])
        row["receiver_name"] = parsed["receiver_name"]
        row["receiver_phone"] = parsed["receiver_phone"]
        row["receiver_address"] = parsed["address"]
        row["receiver_province"] = parsed["province"]
        row["receiver_city"] = parsed["city"]
        row["receiver_district"] = parsed["district"]

    def _customer_for(self, parsed: dict) -> int:
        identities = []
        buyer = normalize_identity("tmall_buyer", parsed["buyer"])
        if buyer:
            identities.append(("tmall_buyer", buyer))
        phone = normalize_identity("phone", parsed["receiver_phone"])
        if phone:
            identities.append(("phone", phone))
        found = {}
        for kind, value in identities:
            identity = (
                Identity.objects.filter(kind=kind, value_hash=identity_hash(kind, value))
                .select_related("customer")
                .first()
            )
            if identity is not None:
                found[(kind, value)] = identity.customer_id
        chosen, _others = choose_customer((k, cid) for (k, _v), cid in found.items())
        placed = _aware(parsed["placed_at"])
        if chosen is None:
            name = parsed["receiver_name"]
            customer = Customer.objects.create(
                name=name if name and "*" not in name else parsed["buyer"],
                phone=phone or "",
                phone_hash=identity_hash("phone", phone) if phone else "",
                phone_last4=(phone or "")[-4:],
                source="tmall",
                source_detail="django-import-export",
                first_seen_at=placed,
                province=parsed["province"],
                city=parsed["city"],
            )
            chosen = customer.pk
        else:
            Customer.objects.filter(pk=chosen, first_seen_at__gt=placed).update(
                first_seen_at=placed
            )
        for kind, value in identities:
            if (kind, value) not in found:
                Identity.objects.create(
                    customer_id=chosen,
                    kind=kind,
                    value_hash=identity_hash(kind, value),
                    value=value,
                    source="tmall",
                )
        touch, created = Touch.objects.get_or_create(
            customer_id=chosen, source="tmall", ref=REF, defaults={"occurred_at": placed}
        )
        if not created and placed < touch.occurred_at:
            touch.occurred_at = placed
            touch.save(update_fields=["occurred_at"])
        return chosen

    def after_save_instance(self, instance, row, **kwargs):
        parsed = row["_parsed"]
        line = parsed["line"]
        lines = list(instance.lines.order_by("line_no"))
        if not any(ln.external_line_id == line["external_line_id"] for ln in lines):
            lines.append(OrderLine.objects.create(order=instance, line_no=len(lines) + 1, **line))
        # spread what was paid and refunded over the lines, as the order's rows arrive
        amounts = [ln.amount_fen for ln in lines]
        goods_paid = max(0, instance.paid_fen - instance.shipping_fen) if instance.paid_fen else 0
        paid = [goods_paid] if len(lines) == 1 else split_proportionally(goods_paid, amounts)
        refunded = (
            [
                min(r, p)
                for r, p in zip(
                    split_proportionally(instance.refunded_fen, paid), paid, strict=True
                )
            ]
            if instance.refunded_fen and sum(paid)
            else [0] * len(lines)
        )
        if len(lines) == 1 and instance.refunded_fen:
            refunded = [min(instance.refunded_fen, paid[0])]
        for ln, p, r in zip(lines, paid, refunded, strict=True):
            ln.paid_fen, ln.refunded_fen = p, r
            ln.discount_fen = max(0, ln.amount_fen - p)
            ln.refunded_quantity = ln.quantity if p and r >= p else 0
            ln.save(update_fields=["paid_fen", "refunded_fen", "discount_fen", "refunded_quantity"])
        if len(lines) == 1:
            OrderStatusChange.objects.create(
                order=instance,
                from_status="",
                to_status=instance.status,
                actor_kind="system",
                actor_label="django-import-export",
                note="imported",
            )


def import_with_django_import_export(path) -> dict:
    from django.db import transaction

    text = path.read_bytes().decode("gb18030")
    dataset = tablib.Dataset().load(text, format="csv")
    # One transaction around the whole import (the library's own would roll every good row back
    # when any row has an error); rows that fail raise before they write.
    with transaction.atomic():
        result = TmallOrderResource().import_data(
            dataset, dry_run=False, raise_errors=False, use_transactions=False
        )
    return {
        "rows": len(dataset),
        "rows_with_errors": len(result.row_errors()),
        "totals": {k: v for k, v in result.totals.items() if v},
    }
