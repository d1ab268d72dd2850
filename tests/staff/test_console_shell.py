import pytest
from django.urls import reverse

from siyu.core.access import Role


@pytest.mark.django_db
def test_console_requires_login(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert "/console/staff/login/" in response["Location"]


@pytest.mark.django_db
def test_login_then_see_navigation_for_the_role(client, operator, clerk):
    assert client.login(username="operator", password="pw-for-tests-1")
    page = client.get("/console/")
    assert page.status_code == 200
    assert f'href="{reverse("staff:list")}"'.encode() in page.content  # operators manage staff
    client.logout()
    client.force_login(clerk)
    page = client.get("/console/")
    assert f'href="{reverse("staff:list")}"'.encode() not in page.content  # clerks do not


@pytest.mark.django_db
def test_language_negotiated_from_the_browser(client, operator):
    client.force_login(operator)
    zh = client.get("/console/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    en = client.get("/console/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert 'lang="zh-hans"' in zh.content.decode()
    assert 'lang="en"' in en.content.decode()
    assert "退出登录" in zh.content.decode()
    assert "Log out" in en.content.decode()


@pytest.mark.django_db
def test_clerk_cannot_open_staff_management(client, clerk):
    client.force_login(clerk)
    response = client.get(reverse("staff:list"))
    assert response.status_code == 403


@pytest.mark.django_db
def test_operator_creates_a_clerk_and_bad_input_names_the_field(client, operator, store):
    client.force_login(operator)
    bad = client.post(
        reverse("staff:list"), {"username": "c9", "role": Role.CLERK, "password": "long-enough-1"}
    )
    assert bad.status_code == 200
    assert bad.context["form"].errors["store"]
    ok = client.post(
        reverse("staff:list"),
        {"username": "c9", "role": Role.CLERK, "password": "long-enough-1", "store": store.pk},
    )
    assert ok.status_code == 302
    from siyu.staff.models import User

    assert User.objects.get(username="c9").store == store


@pytest.mark.django_db
def test_password_change(client, operator):
    client.force_login(operator)
    response = client.post(
        reverse("staff:account"),
        {
            "pw-old_password": "pw-for-tests-1",
            "pw-new_password1": "n3w-Passw0rd!",
            "pw-new_password2": "n3w-Passw0rd!",
        },
    )
    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.check_password("n3w-Passw0rd!")
