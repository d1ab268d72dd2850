"""The member page's extension point, and the configuration checks for shopper login."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core import checks

pytestmark = pytest.mark.django_db


def test_other_apps_add_panels_to_the_member_page(
    make_customer, shopper_client, monkeypatch, tmp_path, settings
):
    template_dir = tmp_path / "templates"
    (template_dir / "points").mkdir(parents=True)
    (template_dir / "points" / "_panel.html").write_text(
        '<p data-testid="points">{{ points }} pts for #{{ customer_id }}</p>'
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [str(template_dir)]},
    ]
    config = apps.get_app_config("staff")
    calls = []

    def panels(actor):
        calls.append(actor)
        return [
            {
                "title": "Points",
                "template": "points/_panel.html",
                "context": {"points": 120, "customer_id": actor.customer_id},
                "order": 5,
            }
        ]

    monkeypatch.setattr(config, "member_panels", panels)
    customer = make_customer()
    page = shopper_client(customer).get("/m/me/")
    html = page.content.decode()
    assert f"120 pts for #{customer.pk}" in html
    assert calls[0].kind == "customer" and calls[0].customer_id == customer.pk


def _problems(settings, **overrides):
    for key, value in overrides.items():
        setattr(settings, key, value)
    return {
        p.id for p in checks.run_checks(tags=[checks.Tags.security]) if p.id.startswith("mall.")
    }


def test_production_warns_about_the_console_sms_adapter_and_refuses_the_fake_wechat(settings):
    assert _problems(settings) == set()
    found = _problems(settings, PRODUCTION=True, SIYU_WECHAT_OAUTH="fake")
    assert found == {"mall.W001", "mall.E004"}


def test_misconfigured_adapters_are_reported(settings):
    found = _problems(
        settings,
        SIYU_SMS_ADAPTER="nowhere.Sms",
        SIYU_WECHAT_OAUTH="wechat",
        SIYU_WECHAT_OA_APP_ID="",
        SIYU_WECHAT_OAUTH_SCOPE="snsapi_login",
    )
    assert found == {"mall.E001", "mall.E003", "mall.E005"}
