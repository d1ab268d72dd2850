"""Nightly scoring end to end: from customers and orders in the main database to stored scores."""

from __future__ import annotations

import math

import pytest
from django.utils import timezone

from siyu.analytics import services, snapshot
from siyu.analytics.models import CustomerScore, ScoreRun
from siyu.analytics.scoring import RFM_GRID
from siyu.core.access import Actor
from siyu.core.errors import PermissionDenied


def score(**kwargs) -> ScoreRun:
    return services.run_scoring(actor=Actor.system("test"), **kwargs)


def scores() -> dict[int, CustomerScore]:
    return {s.customer_id: s for s in CustomerScore.objects.all()}


@pytest.fixture
def brand(shop):
    """Twelve kinds of customers a brand really has."""
    s = shop
    regular = s.customer("regular", in_pool=True)
    for days in (300, 240, 180, 120, 60, 5):  # every 60 days, bought 5 days ago
        s.order(regular, days, 20000)
    once = s.customer("once")
    s.order(once, 20, 8000)
    gone = s.customer("gone")
    s.order(gone, 700, 5000)
    s.order(gone, 650, 5000)
    refunded = s.customer("refunded")
    s.order(refunded, 10, 9000, status="refunded", refunded_fen=9000)
    s.order(refunded, 30, 10000, refunded_fen=4000)  # partly refunded: 60 yuan kept
    s.order(refunded, 31, 3000, status="cancelled")
    s.customer("pool_only", in_pool=True)
    s.customer("aware_only")
    browsing = s.customer("browsing")
    s.order(browsing, 2, 5000, paid=False)
    survivor = s.customer("survivor")
    s.order(survivor, 50, 10000)
    merged = s.customer("merged", merged_into=survivor)
    s.order(merged, 90, 10000)
    erased = s.customer("erased", erased_at=timezone.now())
    s.order(erased, 15, 10000)
    referrer = s.customer("referrer")
    s.order(referrer, 40, 10000)
    s.order(referrer, 10, 10000)
    for i in range(3):
        friend = s.customer(f"friend{i}", referred_by=referrer)
        s.order(friend, 9 - i, 7000)
    s.customer("friend_no_buy", referred_by=referrer)
    # a crowd of repeat buyers so the models have something to fit
    for i in range(40):
        c = s.customer(f"crowd{i}")
        for k in range(1 + i % 5):
            s.order(c, 20 + 37 * k + i, 6000 + 500 * (i % 7))
    return s


def test_scoring_stores_one_row_per_active_customer_and_a_run(brand):
    run = score()
    assert run.status == ScoreRun.Status.SUCCEEDED
    c = brand.customers
    stored = scores()
    active = {k for k in c if k not in ("merged", "erased")}
    assert set(stored) == {c[k].pk for k in active}
    assert run.customers == len(active)
    assert run.buyers == sum(1 for k in active if stored[c[k].pk].orders > 0)
    assert {"bgnbd", "gamma_gamma"} <= set(run.parameters)
    assert run.parameters["bgnbd"]["r"] > 0
    assert sum(run.figures["lifecycle"].values()) == run.customers
    assert sum(run.figures["rfm_groups"].values()) == run.buyers
    assert run.figures["timings"]["write_scores"] >= 0


def test_only_paid_money_kept_counts_as_a_purchase(brand):
    score()
    s = scores()[brand.customers["refunded"].pk]
    # the fully refunded and the cancelled order do not count; the partial refund is netted
    assert s.orders == 1
    assert s.net_spend_fen == 6000
    assert s.recency_days == 30


def test_a_merged_records_orders_belong_to_the_survivor(brand):
    score()
    s = scores()[brand.customers["survivor"].pk]
    assert s.orders == 2 and s.purchase_days == 2
    assert s.net_spend_fen == 20000


def test_lifecycle_follows_the_funnel(brand):
    score()
    s = scores()
    c = brand.customers
    stage = {k: s[c[k].pk].lifecycle for k in c if c[k].pk in s}
    assert stage["aware_only"] == "aware"
    assert stage["pool_only"] == "related"
    assert stage["browsing"] == "interested"
    assert stage["once"] == "purchased"
    assert stage["gone"] == "lost"
    assert stage["regular"] in ("loyal", "purchased")
    assert s[c["aware_only"].pk].rfm_group == ""
    assert s[c["aware_only"].pk].p_alive is None


def test_bgnbd_predictions_are_stored_per_customer(brand):
    score()
    s = scores()
    c = brand.customers
    regular, gone, once = s[c["regular"].pk], s[c["gone"].pk], s[c["once"].pk]
    assert once.p_alive == pytest.approx(1.0)  # no repeat purchase: alive by definition
    assert regular.p_alive > gone.p_alive
    assert regular.expected_purchases_365d > regular.expected_purchases_90d > 0
    assert regular.expected_purchases_365d > gone.expected_purchases_365d
    assert regular.clv_365d_fen == pytest.approx(
        regular.expected_purchases_365d * regular.expected_order_value_fen, rel=0.01
    )


def test_repurchase_cycle_and_replenishment(brand):
    score()
    s = scores()
    regular = s[brand.customers["regular"].pk]
    assert regular.cycle_days == 60 and regular.cycle_source == "customer"
    assert regular.next_purchase_on == regular.last_purchase_on + timezone.timedelta(days=60)
    assert not regular.replenishment_due  # bought 5 days ago, next in 55 days
    once = s[brand.customers["once"].pk]
    assert once.cycle_source == "overall" and once.cycle_days > 0


def test_replenishment_is_due_near_the_usual_day(shop):
    c = shop.customer("skincare")
    for days in (85, 57, 29):  # a 28-day bottle, last one 29 days ago
        shop.order(c, days, 15000)
    other = shop.customer("other")
    shop.order(other, 3, 1000)
    shop.order(other, 1, 1000)
    score()
    s = scores()[c.pk]
    assert s.cycle_days == 28 and s.replenishment_due
    assert s.lifecycle != "lost"


def test_referral_index_counts_referred_customers_who_bought(brand):
    score()
    s = scores()[brand.customers["referrer"].pk]
    assert s.converted_referrals == 3
    assert s.referral_index == pytest.approx(1 + math.log2(4))
    expected = s.orders_12m * s.margin_per_order_fen * s.referral_index
    assert s.value_fen == pytest.approx(expected, abs=2)


def test_margin_uses_cost_and_estimates_it_when_unknown(shop):
    a = shop.customer("a")
    shop.order(a, 10, 10000, cost_fen=6000)
    shop.order(a, 5, 10000, cost_fen=7000)
    b = shop.customer("b")
    shop.order(b, 3, 10000, cost_fen=0)  # imported order without cost
    run = score()
    s = scores()
    assert s[a.pk].margin_per_order_fen == 3500
    rate = run.parameters["margin_rate_for_unknown_cost"]
    assert rate == pytest.approx(0.35)
    assert s[b.pk].margin_per_order_fen == 3500


def test_rfm_grid_names_every_cell():
    groups = {g for row in RFM_GRID.values() for g in row}
    assert groups == {
        "champions",
        "loyal",
        "potential_loyalist",
        "new",
        "promising",
        "need_attention",
        "at_risk",
        "cant_lose",
        "hibernating",
        "lost",
    }
    assert RFM_GRID[5][4] == "champions" and RFM_GRID[1][0] == "lost"


def test_recent_big_spenders_are_champions_and_old_small_ones_lost(shop):
    for i in range(10):
        c = shop.customer(f"c{i}")
        # customer i: recency grows and frequency/spend shrink with i
        for k in range(10 - i):
            shop.order(c, 1 + i * 40 + k * 3, 10000 + 1000 * (10 - i))
    score()
    s = scores()
    assert s[shop.customers["c0"].pk].rfm_group == "champions"
    assert (s[shop.customers["c0"].pk].r_score, s[shop.customers["c0"].pk].f_score) == (5, 5)
    assert s[shop.customers["c9"].pk].rfm_group == "lost"


def test_scores_are_replaced_by_the_next_run(brand):
    first = score()
    c = brand.customers["once"]
    brand.order(c, 1, 5000)
    second = score()
    s = scores()[c.pk]
    assert s.run_id == second.pk != first.pk
    assert s.orders == 2
    assert CustomerScore.objects.filter(run_id=first.pk).count() == 0


def test_a_failed_run_is_recorded_with_its_error(brand, monkeypatch):
    def explode(con, as_of):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "score_snapshot", explode)
    with pytest.raises(RuntimeError):
        score()
    run = ScoreRun.objects.get()
    assert run.status == ScoreRun.Status.FAILED and "disk full" in run.error
    assert not snapshot.snapshot_path().with_name("snapshot.next.duckdb").exists()


def test_no_purchases_at_all_still_scores_the_funnel(shop):
    shop.customer("x", in_pool=True)
    shop.customer("y")
    run = score()
    assert run.status == ScoreRun.Status.SUCCEEDED
    assert "error" in run.parameters["bgnbd"]
    assert {s.lifecycle for s in scores().values()} == {"related", "aware"}


def test_scoring_needs_the_run_permission(brand, analyst):
    with pytest.raises(PermissionDenied):
        services.run_scoring(actor=Actor.for_user(analyst))


def test_scores_are_written_in_bulk(brand, django_assert_max_num_queries):
    with snapshot.writer() as con:
        snapshot.refresh(con)
        from siyu.analytics.scoring import score_snapshot

        score_snapshot(con, timezone.localdate())
        table = con.sql("SELECT * FROM scores").to_arrow_table()
    run = ScoreRun.objects.create(as_of=timezone.localdate())
    # a fixed number of statements whatever the number of rows (PostgreSQL: catalogue lookups,
    # TRUNCATE, COPY, and taking off / putting back 4 indexes and 2 foreign keys)
    with django_assert_max_num_queries(22):
        services.write_scores(table, run_id=run.pk)
    assert CustomerScore.objects.count() == table.num_rows


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scoring_reads_postgres_through_adbc_outside_a_transaction(store):
    from siyu.analytics import source
    from tests.analytics.conftest import Shop

    shop = Shop(store=store)
    for i in range(30):
        c = shop.customer(f"p{i}")
        for k in range(1 + i % 4):
            shop.order(c, 5 + 30 * k + i, 5000 + 100 * i)
    assert source._separate_connection_sees_data()
    run = score()
    assert run.customers == 30 and run.buyers == 30
    assert CustomerScore.objects.filter(orders__gt=0).count() == 30


@pytest.mark.postgres
def test_bulk_write_leaves_the_postgres_schema_as_it_found_it(brand):
    from django.db import IntegrityError, connection, transaction

    def schema():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1",
                [CustomerScore._meta.db_table],
            )
            indexes = cursor.fetchall()
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = %s::regclass ORDER BY 1",
                [CustomerScore._meta.db_table],
            )
            return indexes, cursor.fetchall()

    before = schema()
    assert len(before[0]) == 5 and sum("FOREIGN KEY" in d for _, d in before[1]) == 2
    run = score()
    assert schema() == before
    assert CustomerScore.objects.count() == run.customers
    # the foreign keys are back in force
    row = CustomerScore.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerScore.objects.filter(pk=row.pk).update(customer_id=10**9)
        connection.check_constraints()
