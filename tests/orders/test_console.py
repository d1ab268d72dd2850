"""The orders console: list with filters, order page actions, after-sales queue, purchase orders."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from siyu.orders.models import AfterSale, Channel, Order, OrderStatus, Platform
from siyu.orders.services import request_after_sale
from tests import commerce


@pytest.mark.django_db
def test_order_list_shows_mall_and_imported_orders_and_filters_by_platform(
    console_client, operator
):
    sku = commerce.sku_of(commerce.product())
    mall = commerce.place(commerce.customer(), [(sku, 1)])
    imported = Order.objects.create(
        number="TB-1",
        customer=commerce.customer("天猫买家"),
        channel=Channel.PLATFORM,
        platform=Platform.TMALL,
        external_id="3712345678",
        status=OrderStatus.COMPLETED,
        payable_fen=9900,
    )
    client = console_client(operator)
    page = client.get(reverse("orders:list")).content.decode()
    assert mall.number in page and "TB-1" in page and "3712345678" in page
    only_tmall = client.get(reverse("orders:list"), {"platform": "tmall"}).content.decode()
    assert "TB-1" in only_tmall and mall.number not in only_tmall
    by_platform_id = client.get(reverse("orders:list"), {"q": "3712345678"}).content.decode()
    assert "TB-1" in by_platform_id
    assert client.get(reverse("orders:detail", args=[imported.pk])).status_code == 200


@pytest.mark.django_db
def test_operator_ships_from_the_order_page_and_sees_the_timeline(console_client, operator):
    sku = commerce.sku_of(commerce.product(stock=5))
    order = commerce.pay(commerce.place(commerce.customer(), [(sku, 2)]))
    client = console_client(operator)
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'name="tracking_no"' in page and "13812345678" in page
    line = order.lines.get()
    response = client.post(
        reverse("orders:action", args=[order.pk, "ship"]),
        {"carrier": "顺丰速运", "tracking_no": "SF123", f"ship_{line.pk}": "2"},
        follow=True,
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    body = response.content.decode()
    assert "SF123" in body and 'data-testid="timeline"' in body


@pytest.mark.django_db
def test_shipping_errors_come_back_as_a_message_not_a_crash(console_client, operator):
    order = commerce.pay(
        commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    )
    response = console_client(operator).post(
        reverse("orders:action", args=[order.pk, "ship"]),
        {"carrier": "", "tracking_no": ""},
        follow=True,
    )
    assert response.status_code == 200 and "flash-error" in response.content.decode()


@pytest.mark.django_db
def test_analyst_sees_masked_receivers_and_no_actions(console_client, analyst):
    order = commerce.pay(
        commerce.place(commerce.customer(), [(commerce.sku_of(commerce.product()), 1)])
    )
    page = console_client(analyst).get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "138****5678" in page and "13812345678" not in page
    assert 'name="tracking_no"' not in page


@pytest.mark.django_db
def test_operator_refunds_a_line_partially_from_the_order_page(console_client, operator):
    sku = commerce.sku_of(commerce.product(price_fen=10000, stock=5))
    order = commerce.pay(commerce.place(commerce.customer(), [(sku, 2)]))
    line = order.lines.get()
    console_client(operator).post(
        reverse("orders:action", args=[order.pk, "refund"]),
        {
            f"refund_{line.pk}": "1",
            f"amount_{line.pk}": "25.50",
            "kind": "refund_only",
            "reason": "damaged",
            "note": "补偿",
        },
    )
    case = AfterSale.objects.get()
    assert (case.status, case.amount_fen) == ("refunding", 2550)
    commerce.settle_refunds(order)
    assert order.refunded_fen == 2550


@pytest.mark.django_db
def test_after_sales_queue_approves_and_rejects(console_client, operator):
    sku = commerce.sku_of(commerce.product(stock=5))
    c = commerce.customer()
    order = commerce.pay(commerce.place(c, [(sku, 2)]))
    line = order.lines.get()
    one = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="refund_only",
        quantities={line.pk: 1},
        reason="not_wanted",
    )
    two = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="refund_only",
        quantities={line.pk: 1},
        reason="other",
    )
    client = console_client(operator)
    queue = client.get(reverse("orders:after_sales")).content.decode()
    assert one.number in queue and two.number in queue
    client.post(reverse("orders:after_sale_action", args=[one.pk, "approve"]))
    client.post(
        reverse("orders:after_sale_action", args=[two.pk, "reject"]), {"note": "已超过七天"}
    )
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status, two.decision_note) == ("refunding", "rejected", "已超过七天")
    # rejecting needs a reason
    three = request_after_sale(
        order.pk,
        actor=commerce.shopper(c),
        kind="refund_only",
        quantities={line.pk: 1},
        reason="other",
    )
    client.post(reverse("orders:after_sale_action", args=[three.pk, "reject"]), {"note": ""})
    three.refresh_from_db()
    assert three.status == "requested"


@pytest.mark.django_db
def test_purchase_orders_page_exports_and_imports_tracking(console_client, operator):
    sku = commerce.sku_of(commerce.product("代发面膜", drop_ship=True))
    order = commerce.pay(commerce.place(commerce.customer(), [(sku, 1)]))
    client = console_client(operator)
    assert order.number in client.get(reverse("orders:purchase_orders")).content.decode()
    csv_text = client.get(
        reverse("orders:purchase_orders_export"), {"supplier": commerce.supplier().pk}
    ).content.decode("utf-8-sig")
    filled = csv_text.replace(",,\r\n", ",韵达快递,YD77\r\n")
    client.post(
        reverse("orders:purchase_orders_import"),
        {"file": SimpleUploadedFile("back.csv", filled.encode())},
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


@pytest.mark.django_db
def test_clerks_cannot_open_after_sales_or_purchase_orders(console_client, clerk):
    client = console_client(clerk)
    assert client.get(reverse("orders:after_sales")).status_code == 403
    assert client.get(reverse("orders:purchase_orders")).status_code == 403
