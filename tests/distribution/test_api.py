"""The JSON API: staff endpoints and the shopper's own distributor centre."""

import json

from siyu.distribution import services
from siyu.ledger.models import Withdrawal

from .conftest import SYSTEM, complete, later, make_customer, make_distributor, pay, place_order


def _sold():
    services.update_program(actor=SYSTEM, levels=2)
    boss = make_distributor("大区")
    seller = make_distributor("小美", parent=boss)
    order = place_order(make_customer(), [("面霜", 1, 30000)], distributor=seller)
    pay(order)
    complete(order, at=later(-10))
    services.settle_due()
    return boss, seller


def test_staff_list_and_read_distributors_and_commissions(db, api_client, operator, clerk):
    boss, seller = _sold()
    client = api_client(operator)
    page = client.get("/api/v1/distribution/distributors/").json()
    assert {d["code"] for d in page["items"]} == {boss.code, seller.code}
    detail = client.get(f"/api/v1/distribution/distributors/{seller.pk}").json()
    assert detail["earnings"]["available_fen"] == 3000
    assert detail["distributor"]["parent_id"] == boss.pk
    commissions = client.get("/api/v1/distribution/commissions/?status=settled").json()
    assert sorted(c["amount_fen"] for c in commissions["items"]) == [900, 3000]
    assert {c["key"] for c in commissions["items"]} >= {
        f"commission:{commissions['items'][0]['order_line_id']}:1"
    }
    forbidden = api_client(clerk).get("/api/v1/distribution/distributors/")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "permission_denied"


def test_settings_refuse_a_fee_and_a_third_level(db, api_client, operator):
    client = api_client(operator)
    ok = client.patch(
        "/api/v1/distribution/settings", json.dumps({"levels": 2}), content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["levels"] == 2
    three = client.patch(
        "/api/v1/distribution/settings", json.dumps({"levels": 3}), content_type="application/json"
    )
    assert three.status_code == 409 and three.json()["error"]["code"] == "commission_depth_exceeded"
    fee = client.patch(
        "/api/v1/distribution/settings",
        json.dumps({"entry_fee_fen": 9900}),
        content_type="application/json",
    )
    assert fee.status_code == 200 and "entry_fee_fen" not in fee.json()


def test_staff_approve_and_reject_withdrawals(db, api_client, operator):
    from siyu.core.access import Actor

    _boss, seller = _sold()
    w = services.request_withdrawal(seller.pk, 2000, actor=Actor.for_customer(seller.customer_id))
    client = api_client(operator)
    queue = client.get("/api/v1/ledger/withdrawals/?status=requested").json()
    assert [item["id"] for item in queue["items"]] == [w.pk]
    bad = client.post(
        f"/api/v1/ledger/withdrawals/{w.pk}/reject",
        json.dumps({"reason": ""}),
        content_type="application/json",
    )
    assert bad.status_code == 422
    ok = client.post(f"/api/v1/ledger/withdrawals/{w.pk}/approve")
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    check = client.get("/api/v1/ledger/check").json()
    assert check == {"ok": True, "problems": []}


def test_account_statement_has_running_balances(db, api_client, analyst):
    from siyu.ledger import accounts as A
    from siyu.ledger import services as ledger

    _boss, seller = _sold()
    account = ledger.account_for(services.owner_of(seller), A.PENDING)
    body = api_client(analyst).get(f"/api/v1/ledger/accounts/{account.pk}/lines").json()
    assert body["balance_fen"] == 0
    assert [(line["amount_fen"], line["balance_fen"]) for line in body["lines"]] == [
        (3000, 0),  # newest first: moved on to frozen
        (-3000, 3000),  # credited when paid
    ]


def test_a_shopper_reads_their_centre_and_withdraws(db, shopper_client):
    _boss, seller = _sold()
    client = shopper_client(seller.customer)
    me = client.get("/api/v1/distribution/me").json()
    assert me["earnings"]["available_fen"] == 3000 and me["share_path"].endswith(f"{seller.code}/")
    assert client.get("/api/v1/distribution/me/commissions").json()["items"][0]["net_fen"] == 3000
    # the shopper session needs the CSRF token for writes
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    response = client.post(
        "/api/v1/distribution/me/withdrawals",
        json.dumps({"amount_fen": 1500}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.content
    assert Withdrawal.objects.get().amount_fen == 1500


def test_a_customer_who_is_not_a_distributor_gets_a_clear_error(db, shopper_client):
    response = shopper_client(make_customer()).get("/api/v1/distribution/me")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_a_distributor"
