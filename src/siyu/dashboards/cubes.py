"""Pre-aggregated tables the dashboards read, built into the segment index after its core tables.

Each cube is keyed by the dashboard filters (local day or month, the customer's home store, the
customer's first source) so a page sums a few thousand rows instead of scanning orders:

* ``dash_new_customers``: customers first seen per day, store, source and pool membership;
* ``dash_orders``: purchases per day, store, source and platform-or-private, with GMV, net, cost;
* ``dash_cohorts``: customers buying in each month after the month of their first purchase;
* ``dash_product_buyers``, ``dash_pairs``, ``dash_buyers``: buyers of the top products and of each
  pair of them (cross-sell: customers who bought X also bought Y), over all history;
* the index's ``pdays`` (one row per customer and purchase day with the previous and next
  purchase day) counts buyers and repeat buyers in any date range without grouping by customer
  (a buyer's first day in the range is the row whose previous day falls before it);
* ``dash_products``: revenue, units and lines per day and product (top products, all stores).
"""

from __future__ import annotations

import duckdb

from siyu.segments.index import builder

TOP_PRODUCTS = 100  # cross-sell pairs among the most bought products


@builder("dashboards", order=200)
def build_cubes(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE dash_new_customers AS
        SELECT first_seen_on AS day, store_id, source, in_pool, count(*) AS customers
        FROM facts GROUP BY ALL ORDER BY day;

        CREATE TABLE dash_orders AS
        SELECT day, home_store_id AS store_id, source, channel = 'platform' AS platform_order,
               count(*) AS orders, sum(paid_fen) AS gmv_fen, sum(net_fen) AS net_fen,
               coalesce(sum(net_fen) FILTER (WHERE cost_fen > 0), 0) AS costed_net_fen,
               coalesce(sum(cost_fen * net_fen / paid_fen) FILTER (WHERE cost_fen > 0), 0)
                   AS cost_fen
        FROM purchases GROUP BY ALL ORDER BY day;

        CREATE TABLE dash_products AS
        SELECT day, product, any_value(product_title) AS title, sum(net_fen) AS revenue_fen,
               sum(quantity) AS units, count(*) AS lines
        FROM lines WHERE product <> '' GROUP BY day, product ORDER BY day;
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE months AS
        SELECT DISTINCT customer_id, date_trunc('month', day) AS month FROM pdays;
        CREATE TABLE dash_cohorts AS
        WITH first AS (SELECT customer_id, min(month) AS cohort FROM months GROUP BY 1)
        SELECT f.cohort AS cohort_month,
               CAST(date_diff('month', f.cohort, m.month) AS INTEGER) AS month_offset,
               x.store_id, x.source, count(*) AS customers
        FROM months m JOIN first f USING (customer_id) JOIN facts x USING (customer_id)
        GROUP BY ALL ORDER BY 1, 2;
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE top_products AS
        SELECT product FROM lines WHERE product <> ''
        GROUP BY product ORDER BY count(DISTINCT customer_id) DESC, product LIMIT {TOP_PRODUCTS};
        CREATE TEMP TABLE customer_products AS
        SELECT DISTINCT l.customer_id, l.product
        FROM lines l JOIN top_products t USING (product);
        CREATE TABLE dash_product_buyers AS
        SELECT x.store_id, x.source, cp.product, count(*) AS customers
        FROM customer_products cp JOIN facts x USING (customer_id) GROUP BY ALL;
        CREATE TABLE dash_pairs AS
        SELECT x.store_id, x.source, a.product AS a, b.product AS b, count(*) AS customers
        FROM customer_products a
        JOIN customer_products b ON b.customer_id = a.customer_id AND a.product < b.product
        JOIN facts x ON x.customer_id = a.customer_id
        GROUP BY ALL;
        CREATE TABLE dash_buyers AS
        SELECT store_id, source, count(*) AS customers FROM facts WHERE orders > 0 GROUP BY ALL;
        """
    )
