"""Console pages for distribution and the ledger: who sees them, and that actions go through."""

import pytest
from django.urls import reverse

from siyu.core.access import Actor
from siyu.distribution import services
from siyu.distribution.models import Distributor, DistributorApplication, ProgramSettings
from siyu.ledger import accounts as A
from siyu.ledger import services as ledger
from siyu.ledger.models import Withdrawal, WithdrawalStatus

from .conftest import SYSTEM, complete, later, make_customer, make_distributor, pay, place_order


@pytest.fixture
def sold(programme):
    """A seller with a recruiter, one settled sale, one frozen, and a withdrawal requested."""
    boss = make_distributor("大区")
    seller = make_distributor("小美", parent=boss)
    first = place_order(make_customer("王女士"), [("面霜", 1, 30000)], distributor=seller)
    pay(first)
    complete(first, at=later(-10))
    services.settle_due()
    second = place_order(make_customer("李先生"), [("面膜", 2, 5000)], distributor=seller)
    pay(second)
    complete(second)
    services.record_click(seller.code, customer_id=make_customer("赵小姐").pk)
    w = services.request_withdrawal(seller.pk, 2000, actor=Actor.for_customer(seller.customer_id))
    return boss, seller, w


PAGES = [
    "distribution:distributors",
    "distribution:applications",
    "distribution:commissions",
    "distribution:levels",
    "distribution:settings",
    "distribution:invitations",
    "ledger:accounts",
    "ledger:withdrawals",
    "ledger:clawbacks",
]


def test_operators_and_analysts_see_the_pages_clerks_do_not(
    sold, console_client, operator, analyst, clerk
):
    for user, expected in ((operator, 200), (analyst, 200), (clerk, 403)):
        client = console_client(user)
        for name in PAGES:
            assert client.get(reverse(name)).status_code == expected, (user, name)


def test_distributor_page_shows_earnings_referrals_and_ledger(sold, console_client, operator):
    boss, seller, _w = sold
    page = console_client(operator).get(reverse("distribution:distributor", args=[seller.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    import re

    cards = html[html.index('data-testid="earnings"') : html.index('class="grid-2"')]
    # pending, frozen, available, withdrawn: ¥30 settled less ¥20 in transit; ¥10 frozen
    assert re.findall(r'stat-value">([^<]+)<', cards) == ["¥0.00", "¥10.00", "¥10.00", "¥0.00"]
    assert "¥20.00" in cards
    assert "赵小姐" in html and "大区" in html
    assert f"/m/distribution/s/{seller.code}/" in html


def test_commission_list_filters_by_status(sold, console_client, operator):
    client = console_client(operator)
    settled = client.get(reverse("distribution:commissions") + "?status=settled").content.decode()
    frozen = client.get(reverse("distribution:commissions") + "?status=frozen").content.decode()
    assert "面霜" in settled and "面膜" not in settled
    assert "面膜" in frozen and "面霜" not in frozen


def test_account_statement_shows_a_running_balance(sold, console_client, operator):
    _boss, seller, _w = sold
    account = ledger.account_for(services.owner_of(seller), A.AVAILABLE)
    html = (
        console_client(operator).get(reverse("ledger:account", args=[account.pk])).content.decode()
    )
    assert "cached balance equals the sum of the lines" in html or "缓存余额" in html
    assert "commission:" in html and "withdrawal:" in html
    assert "¥30.00" in html and "¥10.00" in html


def test_operator_approves_a_withdrawal_from_the_queue(sold, console_client, operator):
    _boss, seller, w = sold
    client = console_client(operator)
    queue = client.get(reverse("ledger:withdrawals")).content.decode()
    assert f'data-testid="withdrawal-{w.pk}"' in queue
    client.post(reverse("ledger:approve", args=[w.pk]))
    w.refresh_from_db()
    assert w.status in (WithdrawalStatus.APPROVED, WithdrawalStatus.PAID)


def test_operator_rejects_a_withdrawal_with_a_reason(sold, console_client, operator):
    _boss, seller, w = sold
    client = console_client(operator)
    client.post(reverse("ledger:reject", args=[w.pk]), {"reason": ""})
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.REQUESTED
    client.post(reverse("ledger:reject", args=[w.pk]), {"reason": "请先完善实名信息"})
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.REJECTED and w.reject_reason == "请先完善实名信息"


def test_analysts_cannot_approve(sold, console_client, analyst):
    _boss, _seller, w = sold
    console_client(analyst).post(reverse("ledger:approve", args=[w.pk]))
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.REQUESTED


def test_operator_reviews_applications(db, console_client, operator):
    services.update_program(actor=SYSTEM, join_mode="application")
    a = make_customer("申请人")
    b = make_customer("另一位")
    app_a = services.join(a.pk, actor=Actor.for_customer(a.pk), display_name="小店")
    app_b = services.join(b.pk, actor=Actor.for_customer(b.pk))
    client = console_client(operator)
    assert "小店" in client.get(reverse("distribution:applications")).content.decode()
    client.post(reverse("distribution:approve", args=[app_a.pk]))
    client.post(reverse("distribution:reject", args=[app_b.pk]), {"reason": "资料不全"})
    assert Distributor.objects.filter(customer=a).exists()
    assert DistributorApplication.objects.get(pk=app_b.pk).status == "rejected"


def test_operator_changes_settings_but_cannot_exceed_two_levels(db, console_client, operator):
    client = console_client(operator)
    data = {
        "join_mode": "invitation",
        "levels": "2",
        "binding_rule": "last_days",
        "binding_days": "14",
        "self_purchase_rebate": "",
        "after_sales_days": "15",
        "min_withdrawal": "20",
    }
    client.post(reverse("distribution:settings"), data)
    s = ProgramSettings.objects.get()
    assert (s.join_mode, s.levels, s.binding_rule, s.binding_days) == (
        "invitation",
        2,
        "last_days",
        14,
    )
    assert s.self_purchase_rebate is False and s.min_withdrawal_fen == 2000
    response = client.post(reverse("distribution:settings"), {**data, "levels": "3"})
    assert response.status_code == 200
    assert ProgramSettings.objects.get().levels == 2


def test_operator_edits_levels(db, console_client, operator):
    client = console_client(operator)
    client.post(
        reverse("distribution:levels"),
        {"name": "金牌", "rank": "2", "rate1": "12.5", "rate2": "2.5", "description": ""},
    )
    from siyu.distribution.models import DistributorLevel

    gold = DistributorLevel.objects.get(name="金牌")
    assert (gold.rate1_bp, gold.rate2_bp) == (1250, 250)
    assert "12.5%" in client.get(reverse("distribution:levels")).content.decode()


def test_operator_adds_a_distributor_and_suspends_them(db, console_client, operator):
    customer = make_customer("新人")
    client = console_client(operator)
    response = client.post(
        reverse("distribution:distributors"), {"customer_id": customer.pk, "display_name": "新店"}
    )
    d = Distributor.objects.get(customer=customer)
    assert response.status_code == 302
    client.post(
        reverse("distribution:change_status", args=[d.pk]), {"active": "0", "reason": "test"}
    )
    assert Distributor.objects.get(pk=d.pk).status == "suspended"


def test_clawbacks_are_listed_and_can_be_written_off(sold, console_client, operator):
    from siyu.distribution.models import Commission
    from siyu.ledger.models import Clawback

    from .conftest import refund

    _boss, seller, w = sold
    ledger.reject_withdrawal(w.pk, actor=SYSTEM, reason="test")
    settled = Commission.objects.get(distributor=seller, status="settled")
    # spend the balance first so the clawback cannot be covered
    w2 = ledger.request_withdrawal(
        services.owner_of(seller), 3000, actor=SYSTEM, min_fen=1000, adapter="dev"
    )
    refund(settled.order_line, 30000, "R-late")
    client = console_client(operator)
    assert "R-late" in client.get(reverse("ledger:clawbacks")).content.decode()
    clawback = Clawback.objects.get(owner_id=seller.pk)
    client.post(reverse("ledger:waive", args=[clawback.pk]), {"reason": "顾客投诉，不追回"})
    clawback.refresh_from_db()
    assert clawback.outstanding_fen == 0 and clawback.waived_fen == 3000
    assert w2.status == "requested"


def test_operator_sets_and_removes_a_product_rate(db, console_client, operator):
    from siyu.distribution.models import ProductRate
    from tests import commerce

    sku = commerce.sku_of(commerce.product("修护面霜"))
    client = console_client(operator)
    client.post(
        reverse("distribution:levels"),
        {
            "form": "product_rate",
            "rate-product": sku.code,
            "rate-mode": "percent",
            "rate-level1": "20",
            "rate-level2": "5",
        },
    )
    rate = ProductRate.objects.get()
    assert (rate.product_id, rate.level1_value, rate.level2_value) == (sku.product_id, 2000, 500)
    assert "修护面霜" in client.get(reverse("distribution:levels")).content.decode()
    client.post(reverse("distribution:delete_rate", args=[rate.pk]))
    assert not ProductRate.objects.exists()
