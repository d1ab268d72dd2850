"""Role × endpoint: who may open which customer page or API endpoint, and which rows they see.

The world: a clerk's customer ("mine"), a colleague's customer in the same store, and a customer
of another store. A clerk sees only their own; a store manager only their store's (404 otherwise);
owners, operators and analysts see all. Personal-data export is refused to analysts and clerks.
"""

import pytest
from django.urls import reverse

from siyu.core.access import Role

pytestmark = pytest.mark.django_db

ALL = {Role.OWNER, Role.OPERATOR, Role.STORE_MANAGER, Role.CLERK, Role.ANALYST}
WIDE = {Role.OWNER, Role.OPERATOR, Role.ANALYST}
EDITORS = {Role.OWNER, Role.OPERATOR, Role.STORE_MANAGER, Role.CLERK}
OPS = {Role.OWNER, Role.OPERATOR}


@pytest.fixture
def world(make_staff, store, other_store, register, tag_groups):
    clerk = make_staff(Role.CLERK, username="clerk")
    colleague = make_staff(Role.CLERK, username="colleague")
    far_clerk = make_staff(Role.CLERK, username="far", store=other_store)
    users = {
        Role.OWNER: make_staff(Role.OWNER, username="boss"),
        Role.OPERATOR: make_staff(Role.OPERATOR, username="op"),
        Role.STORE_MANAGER: make_staff(Role.STORE_MANAGER, username="mgr"),
        Role.CLERK: clerk,
        Role.ANALYST: make_staff(Role.ANALYST, username="ana"),
    }
    return {
        "users": users,
        "clerk": clerk,
        "mine": register("王芳", "13900000001", owner=clerk),
        "colleague": register("李娜", "13900000002", owner=colleague),
        "far": register("张敏", "13900000003", owner=far_clerk),
        "tag": tag_groups["whitening"],
    }


def console_cases(w):
    mine, colleague, far = w["mine"].pk, w["colleague"].pk, w["far"].pk
    url = reverse
    return [
        ("GET", url("customers:list"), {}, ALL, 200),
        ("GET", url("customers:detail", args=[mine]), {}, ALL, 200),
        ("GET", url("customers:detail", args=[colleague]), {}, ALL - {Role.CLERK}, 200),
        ("GET", url("customers:detail", args=[far]), {}, WIDE, 200),
        ("GET", url("customers:new"), {}, EDITORS, 200),
        ("GET", url("customers:edit", args=[mine]), {}, EDITORS, 200),
        ("GET", url("customers:export_csv"), {}, ALL, 200),
        ("GET", url("customers:export_json", args=[mine]), {}, OPS, 200),
        ("GET", url("customers:erase", args=[mine]), {}, {Role.OWNER}, 200),
        ("GET", url("customers:merge"), {}, OPS, 200),
        ("GET", url("customers:suggestions"), {}, OPS, 200),
        ("GET", url("customers:tags"), {}, OPS, 200),
        ("GET", url("customers:handover"), {}, OPS | {Role.STORE_MANAGER}, 200),
        ("POST", url("customers:customer_tags", args=[mine]), {"tag": w["tag"].pk}, EDITORS, 302),
        (
            "POST",
            url("customers:consent", args=[mine]),
            {"channel": "sms", "granted": "1", "source": "门店"},
            EDITORS,
            302,
        ),
    ]


def api_cases(w):
    mine, far = w["mine"].pk, w["far"].pk
    base = "/api/v1/customers/"
    return [
        ("GET", base, {}, ALL, 200),
        ("GET", f"{base}{mine}", {}, ALL, 200),
        ("GET", f"{base}{far}", {}, WIDE, 200),
        ("GET", f"{base}{mine}/export", {}, OPS, 200),
        ("POST", f"{base}{mine}/tags", {"tag_id": w["tag"].pk}, EDITORS, 200),
        (
            "POST",
            f"{base}{mine}/consents",
            {"channel": "sms", "granted": True, "source": "门店"},
            EDITORS,
            200,
        ),
        (
            "POST",
            f"{base}{mine}/owner",
            {"owner_id": w["clerk"].pk},
            OPS | {Role.STORE_MANAGER},
            200,
        ),
        # allowed roles get past authorisation and fail validation (same record twice)
        ("POST", f"{base}merge", {"survivor_id": mine, "merged_id": mine}, OPS, 422),
        ("GET", f"{base}merge-suggestions", {}, OPS, 200),
        ("GET", f"{base}tags", {}, ALL, 200),
    ]


def _denied_status(method, url, expected_ok, role, w):
    # out of row scope is "not found" (existence is not revealed); missing permission is 403
    far_detail = str(w["far"].pk) in url and "customers" in url
    colleague_detail = str(w["colleague"].pk) in url
    if role in (Role.CLERK, Role.STORE_MANAGER) and (far_detail or colleague_detail):
        return 404
    return 403


@pytest.mark.parametrize("role", sorted(ALL))
def test_console_matrix(role, world, client):
    client.force_login(world["users"][role])
    wrong = []
    for method, url, data, allowed, ok in console_cases(world):
        response = client.get(url) if method == "GET" else client.post(url, data)
        expected = ok if role in allowed else _denied_status(method, url, ok, role, world)
        if response.status_code != expected:
            wrong.append((method, url, response.status_code, expected))
    assert wrong == []


@pytest.mark.parametrize("role", sorted(ALL))
def test_api_matrix(role, world, api_client):
    client = api_client(world["users"][role])
    wrong = []
    for method, url, data, allowed, ok in api_cases(world):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data, content_type="application/json")
        expected = ok if role in allowed else _denied_status(method, url, ok, role, world)
        if response.status_code != expected:
            wrong.append((method, url, response.status_code, expected))
        if response.status_code >= 400:
            assert set(response.json()) == {"error"}, url
    assert wrong == []


@pytest.mark.parametrize(
    "role,expected",
    [
        (Role.OWNER, {"mine", "colleague", "far"}),
        (Role.OPERATOR, {"mine", "colleague", "far"}),
        (Role.ANALYST, {"mine", "colleague", "far"}),
        (Role.STORE_MANAGER, {"mine", "colleague"}),
        (Role.CLERK, {"mine"}),
    ],
)
def test_row_scope_is_the_same_in_console_list_api_list_and_csv(
    role, expected, world, client, api_client
):
    ids = {world[k].pk: k for k in ("mine", "colleague", "far")}
    user = world["users"][role]
    client.force_login(user)
    console = {r["c"].pk for r in client.get(reverse("customers:list")).context["rows"]}
    api = {c["id"] for c in api_client(user).get("/api/v1/customers/").json()["items"]}
    csv_text = b"".join(client.get(reverse("customers:export_csv")).streaming_content).decode()
    exported = {int(line.split(",")[0]) for line in csv_text.lstrip("\ufeff").splitlines()[1:]}
    for seen in (console, api, exported):
        assert {ids[pk] for pk in seen} == expected


@pytest.mark.parametrize("role", sorted(ALL))
def test_personal_data_is_masked_unless_the_role_may_see_it(role, world, client, api_client):
    user = world["users"][role]
    client.force_login(user)
    page = client.get(reverse("customers:detail", args=[world["mine"].pk])).content.decode()
    api = api_client(user).get(f"/api/v1/customers/{world['mine'].pk}").json()
    if role == Role.ANALYST:
        assert "13900000001" not in page and "王芳" not in page
        assert (api["phone"], api["name"]) == ("139****0001", "王*")
    else:
        assert "13900000001" in page and api["phone"] == "13900000001"
