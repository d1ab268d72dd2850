"""Dashboards: the figures on each page, store managers' own store, CSV for every chart."""

from __future__ import annotations

import csv
import io

import pytest

from siyu.core.access import Actor
from siyu.dashboards import services
from siyu.dashboards.services import Filters

pytestmark = pytest.mark.usefixtures("snapshot_of")


def filters(actor, **params):
    return Filters.from_params(params, actor)


def test_the_overview_splits_private_domain_and_platform_sales(world, everyone):
    page = services.overview(everyone, filters(everyone))  # the last 12 months
    f = page.figures
    assert (f["customers"], f["in_pool"]) == (6, 4)
    assert f["new_customers"] == 6
    # private: amy's two mall orders and the merged ghost's, bob's; platform: cat's, dan's two
    assert (f["private_orders"], f["private_gmv_fen"]) == (4, 20000 + 60000 + 9900 + 8000)
    assert (f["platform_orders"], f["platform_gmv_fen"]) == (3, 15000 + 50000 + 50000)
    assert f["aov_fen"] == round((97900 + 115000) / 7)
    assert f["gross_margin"] == pytest.approx(0.6)
    assert (f["buyers"], f["repeat_buyers"]) == (4, 2)  # amy and dan bought on two days or more
    assert set(page.charts) == {"new_customers", "gmv"}
    gmv = page.charts["gmv"]
    assert sum(r[1] or 0 for r in gmv.rows) == pytest.approx(979.0)
    assert gmv.figure["data"][0]["type"] == "scatter"


def test_a_date_range_and_a_source_narrow_every_figure(world, everyone):
    f = services.overview(everyone, filters(everyone, preset="30d")).figures
    assert (f["private_orders"], f["platform_orders"]) == (2, 0)  # amy 20 days ago, bob 10
    f = services.overview(everyone, filters(everyone, source="jd")).figures
    assert (f["customers"], f["platform_orders"], f["private_orders"]) == (1, 2, 0)


def test_store_managers_see_their_own_store_whatever_the_url_says(
    world, store_manager, other_store
):
    actor = Actor.for_user(store_manager)
    mine = filters(actor, store=str(other_store.pk))
    assert mine.store_id == world.store.pk and mine.store_locked
    f = services.overview(actor, mine).figures
    assert (f["customers"], f["in_pool"]) == (3, 2)  # amy, bob, cat
    assert f["platform_orders"] == 1  # cat's Tmall order; dan is another store's
    top = services.products(actor, mine).charts["top_products"].rows
    assert {r[0] for r in top} == {"SY-SER-30", "SY-CRM-50", "SY-MSK-5", "SY-LIP-01", "SKU-X"}
    assert sum(r[2] for r in top) == pytest.approx(
        400 + 200 + 200 + 80 + 99 + 150
    )  # 12 months, no dan


def test_cohorts_funnel_sources_and_products(world, everyone):
    cohorts = services.cohorts(everyone, filters(everyone, preset="all"))
    heat = cohorts.charts["cohorts"]
    assert heat.figure["data"][0]["type"] == "heatmap"
    first = {row[0]: row for row in heat.rows if row[1] == 0}
    assert sum(row[2] for row in first.values()) == 4  # four buyers, each in one cohort
    assert all(row[4] == 1.0 for row in first.values())
    funnel = dict((r[0], r[1]) for r in cohorts.charts["funnel"].rows)
    assert list(funnel.values()) == sorted(funnel.values(), reverse=True)
    assert list(funnel.values())[0] == 6
    channels = {
        r[0]: r for r in services.channels(everyone, filters(everyone)).charts["channels"].rows
    }
    assert {"Tmall / Taobao", "天猫 / 淘宝"} & set(channels)  # labels in the active language
    products = services.products(everyone, filters(everyone, preset="all"))
    top = products.charts["top_products"].rows
    assert [(r[0], r[2]) for r in top[:2]] == [("SKU-X", 1150.0), ("SY-SER-30", 700.0)]
    assert products.charts["pairs"].rows == []  # three customers is too few for a pair


def test_cross_sell_pairs_have_support_confidence_and_lift(world, everyone, snapshot_of):
    for i in range(6):
        c = world.customer(f"buyer{i}")
        lines = [("SY-SER-30", "精华", 10000), ("SY-CRM-50", "面霜", 10000)]
        world.order(c, 5 + i, 20000, lines=lines if i < 4 else lines[:1])
    snapshot_of()
    pairs = services.products(everyone, filters(everyone, preset="all")).charts["pairs"]
    by = {(r[0], r[2]): r for r in pairs.rows}
    crm_to_ser, ser_to_crm = by[("SY-CRM-50", "SY-SER-30")], by[("SY-SER-30", "SY-CRM-50")]
    # both: the 4 new customers + amy; the cream: those 5; the serum: 6 new + amy; 10 buyers
    assert crm_to_ser[4] == ser_to_crm[4] == 5
    assert crm_to_ser[5] == pytest.approx(5 / 10)
    assert crm_to_ser[6] == pytest.approx(1.0) and ser_to_crm[6] == pytest.approx(5 / 7, abs=1e-4)
    assert crm_to_ser[7] == pytest.approx(1 / (7 / 10), abs=0.01)
    assert ser_to_crm[7] == pytest.approx((5 / 7) / (5 / 10), abs=0.01)


def test_pages_render_and_every_chart_downloads_as_csv(world, operator, console_client):
    client = console_client(operator)
    for url, charts in (
        ("/console/dashboards/", ("new_customers", "gmv")),
        ("/console/dashboards/cohorts/", ("cohorts", "funnel")),
        ("/console/dashboards/channels/", ("channels",)),
        ("/console/dashboards/products/?preset=all", ("top_products", "pairs")),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert b"plotly/plotly.min.js" in page.content
        for chart in charts:
            assert f'data-testid="chart-{chart}"'.encode() in page.content
            sep = "&" if "?" in url else "?"
            download = client.get(f"{url}{sep}download={chart}")
            assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
            rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
            assert len(rows[0]) >= 2
    assert client.get("/console/dashboards/?download=nope").status_code == 404
    assert client.get("/console/dashboards/?since=2026-13-01").status_code == 422


def test_who_may_see_the_dashboards(world, analyst, store_manager, console_client):
    for user, status in ((analyst, 200), (store_manager, 200), (world.clerk, 403)):
        client = console_client(user)
        assert client.get("/console/dashboards/").status_code == status
        client.logout()


def test_the_plotly_script_is_served_from_the_package(client):
    from django.contrib.staticfiles import finders

    path = finders.find("plotly/plotly.min.js")
    assert path and path.endswith("package_data/plotly.min.js")
