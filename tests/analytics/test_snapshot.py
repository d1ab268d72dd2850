"""The columnar snapshot: bulk copies, incremental refresh, categories through the catalogue."""

from __future__ import annotations

import pytest

from siyu.analytics import snapshot


def refresh(**kwargs):
    with snapshot.writer() as con:
        return snapshot.refresh(con, **kwargs)


def query(sql: str):
    con = snapshot.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_first_refresh_copies_every_table(shop):
    c = shop.customer("a", in_pool=True, city="上海")
    shop.order(c, 3, 12000, lines=[("面霜", 8000), ("精华", 4000)])
    report = refresh()
    assert report.tables["customers"]["rows"] == 1
    assert report.tables["order_lines"]["rows"] == 2
    assert query("SELECT city, in_pool FROM customers") == [("上海", True)]
    assert query("SELECT count(*), sum(net_fen) FROM purchases") == [(1, 12000)]
    # lines whose category the catalogue does not know keep a NULL category
    assert query("SELECT count(*) FROM order_lines WHERE category_id IS NULL") == [(2,)]


def test_refresh_reads_only_what_changed_and_replaces_it(shop):
    from siyu.customers.models import CustomerTag, Tag, TagGroup

    a = shop.customer("a")
    order = shop.order(a, 10, 5000)
    group = TagGroup.objects.create(name="肤质")
    tag = Tag.objects.create(group=group, name="干皮")
    link = CustomerTag.objects.create(customer=a, tag=tag)
    refresh()
    b = shop.customer("b")
    order.refunded_fen = 2000
    order.save()
    link.delete()
    report = refresh()
    assert report.tables["customers"]["incremental"]
    assert report.tables["customers"]["rows_read"] <= 2  # b, plus anything within the overlap
    assert report.tables["customers"]["rows"] == 2
    assert query(f"SELECT refunded_fen FROM orders WHERE id = {order.pk}") == [(2000,)]
    assert query("SELECT count(*) FROM order_lines") == [(1,)]
    assert query("SELECT count(*) FROM customer_tags") == [(0,)]
    assert query(f"SELECT count(*) FROM customers WHERE id = {b.pk}") == [(1,)]


def test_readers_keep_their_snapshot_while_a_refresh_replaces_it(shop):
    shop.customer("a")
    refresh()
    reader = snapshot.connect()
    shop.customer("b")
    refresh()
    try:
        assert reader.execute("SELECT count(*) FROM customers").fetchall() == [(1,)]
    finally:
        reader.close()
    assert query("SELECT count(*) FROM customers") == [(2,)]


def test_a_failed_refresh_leaves_the_snapshot_as_it_was(shop):
    shop.customer("a")
    refresh()
    with pytest.raises(RuntimeError), snapshot.writer() as con:
        con.execute("DELETE FROM customers")
        raise RuntimeError("interrupted")
    assert query("SELECT count(*) FROM customers") == [(1,)]


def test_categories_come_through_the_configured_catalogue_path(shop, settings, store):
    # No catalogue yet: point the path at order -> store to exercise the join machinery.
    settings.SIYU_ANALYTICS_CATEGORY_PATH = "order__store"
    c = shop.customer("a")
    shop.order(c, 3, 5000, store=store)
    shop.order(c, 4, 5000)
    refresh()
    assert sorted(query("SELECT category_id, category_name FROM order_lines"), key=str) == sorted(
        [(store.pk, store.name), (None, None)], key=str
    )


def test_an_unknown_catalogue_path_degrades_to_unknown_categories(settings):
    settings.SIYU_ANALYTICS_CATEGORY_PATH = "sku__product__category"  # the catalogue's real path
    joins, _id, _name = snapshot.category_join()
    assert len(joins) == 3
    settings.SIYU_ANALYTICS_CATEGORY_PATH = "sku__no_such_field__category"
    assert snapshot.category_join() is None
    settings.SIYU_ANALYTICS_CATEGORY_PATH = "product_title"  # not a relation
    assert snapshot.category_join() is None


def test_chunked_reads_survive_columns_that_start_with_nulls(shop, monkeypatch):
    """Chunks of an all-NULL column and chunks with values must end up in one typed column."""
    from siyu.analytics import source

    monkeypatch.setattr(source, "FETCH_CHUNK", 2)
    for i in range(5):
        shop.customer(f"c{i}", city="杭州" if i >= 3 else "", opted_out_at=None)
    refresh()
    assert query("SELECT count(city), count(opted_out_at), count(*) FROM customers") == [(5, 0, 5)]
    assert query("SELECT count(*) FROM customers WHERE city = '杭州'") == [(2,)]


def test_each_test_has_its_own_analytics_directory(analytics_dir, tmp_path):
    from siyu.analytics import conf

    assert conf.analytics_dir() == analytics_dir == tmp_path / "analytics"
