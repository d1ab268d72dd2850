"""Console pages, the customer-page panel, the nightly job, and `siyu export`."""

from __future__ import annotations

import json
from io import StringIO

import duckdb
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from siyu.analytics import services
from siyu.analytics.export import customer_key, export
from siyu.analytics.models import ScoreRun
from siyu.core.access import Actor
from siyu.core.errors import PermissionDenied
from siyu.core.models import AuditEntry


@pytest.fixture
def scored(shop, store, other_store):
    mine = shop.customer("mine", store=store, phone="13800138000")
    theirs = shop.customer("theirs", store=other_store, phone="13900139000")
    for c in (mine, theirs):
        for days in (90, 60, 30):
            shop.order(c, days, 10000)
    shop.customer("browser")
    run = services.run_scoring(actor=Actor.system("test"))
    return shop, run


def test_analyst_sees_the_run_history_with_parameters(scored, analyst, console_client):
    _shop, run = scored
    client = console_client(analyst)
    page = client.get("/console/analytics/runs/")
    assert page.status_code == 200
    assert f"#{run.pk}".encode() in page.content
    detail = client.get(f"/console/analytics/runs/{run.pk}/")
    assert detail.status_code == 200
    assert b'data-testid="bgnbd-params"' in detail.content
    assert b'data-testid="rfm-counts"' in detail.content
    csv = client.get("/console/analytics/runs/history.csv")
    assert csv.status_code == 200
    header, row = csv.content.decode().strip().splitlines()[:2]
    assert header.startswith("run_id,as_of,status,customers")
    assert row.startswith(f"{run.pk},")


def test_store_manager_sees_their_store_only(scored, store_manager, console_client):
    shop, _run = scored
    client = console_client(store_manager)
    page = client.get("/console/analytics/runs/")
    assert page.status_code == 200
    assert b'data-testid="store-figures"' in page.content
    assert b'data-testid="rfm-counts"' not in page.content
    assert client.get("/console/analytics/runs/history.csv").status_code == 403
    actor = Actor.for_user(store_manager)
    visible = set(services.scores_visible_to(actor).values_list("customer_id", flat=True))
    assert visible == {shop.customers["mine"].pk}


def test_clerks_do_not_see_scores(scored, clerk, console_client):
    assert console_client(clerk).get("/console/analytics/runs/").status_code == 403


def test_customer_page_panel_shows_the_scores_in_scope(scored, operator, store_manager):
    from django.apps import apps
    from django.template.loader import render_to_string

    shop, _run = scored
    config = apps.get_app_config("analytics")
    panels = config.customer_panels(Actor.for_user(operator), shop.customers["mine"])
    assert len(panels) == 1
    html = render_to_string(panels[0]["template"], panels[0]["context"])
    assert 'data-testid="score-lifecycle"' in html and 'data-testid="score-clv"' in html
    manager = Actor.for_user(store_manager)
    assert config.customer_panels(manager, shop.customers["theirs"]) == []
    assert len(config.customer_panels(manager, shop.customers["mine"])) == 1


def test_home_cards_show_the_latest_run(scored, operator):
    from django.apps import apps

    cards = apps.get_app_config("analytics").home_cards(Actor.for_user(operator))
    assert [str(c["label"]) for c in cards][0]


def test_score_now_queues_the_job(scored, operator, console_client):
    from django_tasks_db.models import DBTaskResult

    from siyu.analytics.tasks import nightly_scoring

    client = console_client(operator)
    response = client.post("/console/analytics/runs/run/")
    assert response.status_code == 302
    queued = DBTaskResult.objects.get(task_path__endswith="nightly_scoring")
    assert queued.args_kwargs["kwargs"] == {"trigger": "console", "started_by": "operator"}
    # what the worker then runs
    nightly_scoring.call(**queued.args_kwargs["kwargs"])
    latest = ScoreRun.objects.first()
    assert latest.trigger == "console" and latest.status == ScoreRun.Status.SUCCEEDED
    assert latest.started_by == "operator"


def test_nightly_scoring_is_scheduled_at_three():
    from siyu.core.schedule import jobs

    job = {j.name: j for j in jobs()}["analytics.nightly_scoring"]
    assert job.at == "03:00"


def test_score_command_prints_the_run(shop):
    c = shop.customer("a")
    shop.order(c, 5, 1000)
    out = StringIO()
    call_command("score", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["customers"] == 1 and data["buyers"] == 1


def test_export_is_pseudonymous_by_default(scored, tmp_path):
    shop, _run = scored
    out = tmp_path / "warehouse"
    call_command("export", "--format", "parquet", "--out", str(out), stdout=StringIO())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["personal_data"] is False
    assert set(manifest["tables"]) == {"customers", "orders", "order_lines", "scores"}
    con = duckdb.connect()
    customers = con.execute(f"SELECT * FROM '{out / 'customers.parquet'}'").fetch_df()
    assert "phone" not in customers.columns and "name" not in customers.columns
    mine = customer_key(shop.customers["mine"].pk)
    assert mine in set(customers["customer_key"])
    orders = con.execute(
        f"SELECT count(*) FROM '{out / 'orders.parquet'}' WHERE customer_key = ?", [mine]
    ).fetchall()
    assert orders == [(3,)]
    scores = con.execute(f"SELECT count(*) FROM '{out / 'scores.parquet'}'").fetchall()
    assert scores == [(3,)]
    assert manifest["tables"]["orders"]["rows"] == 6
    assert AuditEntry.objects.filter(action="analytics.export").exists()


def test_export_with_personal_data_needs_an_owner_and_is_audited(scored, tmp_path, owner, operator):
    out = tmp_path / "pii"
    with pytest.raises(CommandError, match="--by"):
        call_command("export", "--out", str(out), "--include-pii", stdout=StringIO())
    with pytest.raises(PermissionDenied):
        export(actor=Actor.for_user(operator), out=out, include_pii=True)
    call_command(
        "export", "--format", "csv", "--out", str(out), "--include-pii", "--by", "owner",
        stdout=StringIO(),
    )  # fmt: skip
    text = (out / "customers.csv").read_text()
    assert "13800138000" in text
    entry = AuditEntry.objects.get(action="analytics.export_pii")
    assert entry.actor_label == "owner" and entry.data["pii"] is True


def test_demo_scores_the_demo_brand(shop):
    from io import StringIO

    from siyu.analytics import demo
    from siyu.core.demodata import DemoContext

    c = shop.customer("a")
    shop.order(c, 3, 1000)
    out = StringIO()
    demo.build(DemoContext(seed=1, customers=1, out=out))
    assert "scored 1 customers" in out.getvalue()
    assert ScoreRun.objects.get().trigger == "demo"
