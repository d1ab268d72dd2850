"""The dashboards' figures, read from the pre-aggregated cubes of the segment index.

Every page takes the same filters (``Filters``): a date range of local days, a home store (forced
to their own for store managers) and a first source ("channel"). Each chart is a ``Chart``: the
rows behind it (also offered as CSV) and a Plotly figure spec drawn by the browser. Definitions of
every figure are in docs/dashboards.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.core.access import Actor, Role, authorize
from siyu.core.errors import ValidationFailed
from siyu.segments import index
from siyu.segments.services import NoData

PRESETS = {"30d": 30, "90d": 90, "12m": 365}
DEFAULT_PRESET = "12m"
FUNNEL = ("aware", "related", "interested", "purchased", "loyal")
# lifecycle stage -> how far along the funnel the customer got
REACHED = {
    "aware": 0,
    "related": 1,
    "interested": 2,
    "purchased": 3,
    "at_risk": 3,
    "lost": 3,
    "loyal": 4,
}
COHORT_MONTHS = 12
PALETTE = [
    "#07c160", "#1677ff", "#fa8c16", "#eb2f96", "#722ed1", "#13c2c2", "#faad14", "#a0d911",
    "#2f54eb", "#f5222d", "#8c8c8c", "#52c41a", "#597ef7", "#ff7a45", "#36cfc9", "#9254de",
]  # fmt: skip


@dataclass
class Filters:
    since: date
    until: date
    store_id: int | None = None
    source: str = ""
    preset: str = ""
    store_locked: bool = False

    @classmethod
    def from_params(cls, params, actor: Actor) -> Filters:
        """Parse ?preset=90d or ?since=&until=, ?store=, ?source=; bad values name their field."""
        from siyu.customers.models import Source

        errors: dict[str, str] = {}
        today = timezone.localdate()
        preset = params.get("preset") or ""
        since = until = None
        if params.get("since") or params.get("until"):
            try:
                since = date.fromisoformat(params.get("since")) if params.get("since") else None
                until = date.fromisoformat(params.get("until")) if params.get("until") else None
            except ValueError:
                errors["since"] = _("Use a date like 2026-01-31.")
            preset = ""
        elif preset == "all":
            since = date(2000, 1, 1)
        else:
            preset = preset if preset in PRESETS else DEFAULT_PRESET
            since = today - timedelta(days=PRESETS[preset] - 1)
        until = until or today
        since = since or until - timedelta(days=PRESETS[DEFAULT_PRESET] - 1)
        if since > until:
            errors["until"] = _("The end date is before the start date.")
        source = params.get("source") or ""
        if source and source not in Source.values:
            errors["source"] = _("Unknown source.")
        store_id = None
        raw_store = params.get("store") or ""
        if raw_store:
            try:
                store_id = int(raw_store)
            except ValueError:
                errors["store"] = _("Not a number.")
        if errors:
            raise ValidationFailed(_("Some filters are invalid."), fields=errors)
        locked = False
        if not actor.sees_all_stores:
            # a store manager's figures are their store's customers, whatever the URL says
            store_id, locked = actor.store_id, True
        return cls(since, until, store_id, source, preset, locked)

    def dims(self, store_col: str = "store_id", source_col: str = "source") -> tuple[str, list]:
        sql, params = ["TRUE"], []
        if self.store_id is not None:
            sql.append(f"{store_col} = ?")
            params.append(self.store_id)
        if self.source:
            sql.append(f"{source_col} = ?")
            params.append(self.source)
        return " AND ".join(sql), params

    def days(self, column: str = "day") -> tuple[str, list]:
        return f"{column} BETWEEN ? AND ?", [self.since, self.until]

    def as_params(self) -> dict:
        out: dict[str, Any] = {}
        if self.preset:
            out["preset"] = self.preset
        else:
            out["since"], out["until"] = self.since.isoformat(), self.until.isoformat()
        if self.store_id is not None and not self.store_locked:
            out["store"] = self.store_id
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class Chart:
    """One chart: what it shows, the rows behind it (its CSV) and how Plotly draws it."""

    id: str
    title: str
    columns: list[str]
    rows: list[list]
    figure: dict | None = None
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.rows


@dataclass
class Page:
    charts: dict[str, Chart] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    data_as_of: Any = None
    seconds: float = 0.0

    def add(self, chart: Chart) -> None:
        self.charts[chart.id] = chart


def _cursor():
    try:
        return index.fresh_connection()
    except index.IndexUnavailable:
        raise NoData(
            _(
                "There is no analytics data yet. The snapshot is built by the hourly refresh and "
                "the nightly scoring (or run `siyu score`)."
            )
        ) from None


def _start(actor: Actor) -> tuple[Any, dict, float]:
    authorize(actor, "dashboards.view")
    if not actor.sees_all_stores and not (actor.role == Role.STORE_MANAGER and actor.store_id):
        from siyu.core.errors import PermissionDenied

        raise PermissionDenied(_("Dashboards show a store's or the brand's figures."))
    cur, meta = _cursor()
    return cur, meta, time.perf_counter()


def _finish(page: Page, meta: dict, started: float) -> Page:
    page.data_as_of = index.data_time(meta)
    page.seconds = time.perf_counter() - started
    return page


def _labels(model_path: str) -> dict:
    import importlib

    module, name = model_path.rsplit(".", 1)
    return {k: str(v) for k, v in getattr(importlib.import_module(module), name).choices}


def _ratio(a, b) -> float | None:
    return (a / b) if b else None


def _layout(**extra) -> dict:
    base = {
        "margin": {"l": 48, "r": 16, "t": 12, "b": 40},
        "height": 300,
        "legend": {"orientation": "h", "y": -0.2},
        "font": {"family": "-apple-system, PingFang SC, Microsoft YaHei, sans-serif", "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified",
    }
    base.update(extra)
    return base


# --- overview ---------------------------------------------------------------------------------------


def overview(actor: Actor, filters: Filters) -> Page:
    cur, meta, started = _start(actor)
    page = Page()
    try:
        _overview(cur, filters, page)
    finally:
        cur.close()
    return _finish(page, meta, started)


def _overview(cur, filters: Filters, page: Page) -> None:
    dims, dparams = filters.dims()
    days, yparams = filters.days()
    sources = _labels("siyu.customers.models.Source")

    total, in_pool = cur.execute(
        f"SELECT count(*), count(*) FILTER (WHERE in_pool) FROM facts WHERE {dims}", dparams
    ).fetchall()[0]
    new_total, new_pool = cur.execute(
        "SELECT coalesce(sum(customers), 0), coalesce(sum(customers) FILTER (WHERE in_pool), 0) "
        f"FROM dash_new_customers WHERE {dims} AND {days}",
        dparams + yparams,
    ).fetchall()[0]
    rows = cur.execute(
        "SELECT platform_order, sum(orders), sum(gmv_fen), sum(net_fen), sum(costed_net_fen), "
        f"sum(cost_fen) FROM dash_orders WHERE {dims} AND {days} GROUP BY 1",
        dparams + yparams,
    ).fetchall()
    by_kind = {bool(r[0]): r[1:] for r in rows}
    private = by_kind.get(False, (0, 0, 0, 0, 0))
    platform = by_kind.get(True, (0, 0, 0, 0, 0))
    orders = int(private[0] or 0) + int(platform[0] or 0)
    gmv = int(private[1] or 0) + int(platform[1] or 0)
    costed = int(private[3] or 0) + int(platform[3] or 0)
    cost = float(private[4] or 0) + float(platform[4] or 0)
    # each buyer's first purchase day in the range is the row whose previous day is before it;
    # they bought again in the range when their next purchase day is inside it too
    buyers, repeaters = cur.execute(
        "SELECT count(*), count(*) FILTER (WHERE next_day <= ?) FROM pdays "
        f"WHERE {dims} AND {days} AND (prev_day IS NULL OR prev_day < ?)",
        [filters.until] + dparams + yparams + [filters.since],
    ).fetchall()[0]
    page.figures = {
        "customers": total,
        "in_pool": in_pool,
        "pool_share": _ratio(in_pool, total),
        "new_customers": int(new_total),
        "new_in_pool": int(new_pool),
        "orders": orders,
        "gmv_fen": gmv,
        "private_gmv_fen": int(private[1] or 0),
        "private_orders": int(private[0] or 0),
        "platform_gmv_fen": int(platform[1] or 0),
        "platform_orders": int(platform[0] or 0),
        "private_share": _ratio(int(private[1] or 0), gmv),
        "aov_fen": round(gmv / orders) if orders else None,
        "gross_margin": _ratio(costed - cost, costed),
        "buyers": buyers,
        "repeat_buyers": repeaters,
        "repurchase_rate": _ratio(repeaters, buyers),
    }

    new_rows = cur.execute(
        f"SELECT day, source, sum(customers) FROM dash_new_customers WHERE {dims} AND {days} "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        dparams + yparams,
    ).fetchall()
    series: dict[str, tuple[list, list]] = {}
    for day, source, n in new_rows:
        xs, ys = series.setdefault(source, ([], []))
        xs.append(day.isoformat())
        ys.append(int(n))
    page.add(
        Chart(
            "new_customers",
            _("Customers added per day, by source"),
            [_("Day"), _("Source"), _("Customers")],
            [[d.isoformat(), sources.get(s, s), int(n)] for d, s, n in new_rows],
            {
                "data": [
                    {
                        "type": "bar",
                        "name": sources.get(src, src or _("Unknown")),
                        "x": xs,
                        "y": ys,
                        "marker": {"color": PALETTE[i % len(PALETTE)]},
                    }
                    for i, (src, (xs, ys)) in enumerate(sorted(series.items()))
                ],
                "layout": _layout(barmode="stack"),
            },
        )
    )

    gmv_rows = cur.execute(
        "SELECT day, sum(gmv_fen) FILTER (WHERE NOT platform_order), "
        "sum(gmv_fen) FILTER (WHERE platform_order), sum(orders) FILTER (WHERE NOT platform_order), "
        f"sum(orders) FILTER (WHERE platform_order) FROM dash_orders WHERE {dims} AND {days} "
        "GROUP BY 1 ORDER BY 1",
        dparams + yparams,
    ).fetchall()
    x = [r[0].isoformat() for r in gmv_rows]
    page.add(
        Chart(
            "gmv",
            _("GMV per day: private domain and imported platforms"),
            [
                _("Day"),
                _("Private-domain GMV (yuan)"),
                _("Platform GMV (yuan)"),
                _("Private-domain orders"),
                _("Platform orders"),
            ],  # fmt: skip
            [
                [r[0].isoformat(), _yuan(r[1]), _yuan(r[2]), int(r[3] or 0), int(r[4] or 0)]
                for r in gmv_rows
            ],
            {
                "data": [
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "stackgroup": "gmv",
                        "name": _("Private domain"),
                        "x": x,
                        "y": [_yuan(r[1]) or 0 for r in gmv_rows],
                        "line": {"color": PALETTE[0]},
                    },
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "stackgroup": "gmv",
                        "name": _("Imported platforms"),
                        "x": x,
                        "y": [_yuan(r[2]) or 0 for r in gmv_rows],
                        "line": {"color": PALETTE[1]},
                    },
                ],
                "layout": _layout(yaxis={"title": {"text": _("yuan")}}),
            },
        )
    )


def _yuan(fen) -> float | None:
    return None if fen is None else round(float(fen) / 100, 2)


# --- cohorts and funnel -----------------------------------------------------------------------------


def cohorts(actor: Actor, filters: Filters) -> Page:
    cur, meta, started = _start(actor)
    page = Page()
    try:
        _cohorts(cur, filters, page)
        _funnel(cur, filters, page)
    finally:
        cur.close()
    return _finish(page, meta, started)


def _cohorts(cur, filters: Filters, page: Page) -> None:
    dims, dparams = filters.dims()
    first_month = filters.since.replace(day=1)
    rows = cur.execute(
        f"SELECT cohort_month, month_offset, sum(customers) FROM dash_cohorts WHERE {dims} "
        "AND cohort_month BETWEEN ? AND ? AND month_offset <= ? GROUP BY 1, 2 ORDER BY 1, 2",
        dparams + [first_month, filters.until, COHORT_MONTHS],
    ).fetchall()
    sizes: dict[date, int] = {}
    cells: dict[tuple[date, int], int] = {}
    for cohort, offset, n in rows:
        cells[(cohort, offset)] = int(n)
        if offset == 0:
            sizes[cohort] = int(n)
    months = sorted(sizes)
    offsets = list(range(COHORT_MONTHS + 1))
    this_month = timezone.localdate().replace(day=1)
    z, text, table = [], [], []
    for cohort in months:
        elapsed = (this_month.year - cohort.year) * 12 + this_month.month - cohort.month
        row, labels = [], []
        for k in offsets:
            if k > elapsed:
                row.append(None)
                labels.append("")
                continue
            share = cells.get((cohort, k), 0) / sizes[cohort]
            row.append(round(share * 100, 1))
            labels.append(f"{share * 100:.0f}%")
            table.append([cohort.strftime("%Y-%m"), k, sizes[cohort], cells.get((cohort, k), 0),
                          round(share, 4)])  # fmt: skip
        z.append(row)
        text.append(labels)
    page.add(
        Chart(
            "cohorts",
            _("Retention by month of first purchase"),
            [
                _("First purchase month"),
                _("Months later"),
                _("Cohort size"),
                _("Bought that month"),
                _("Share"),
            ],  # fmt: skip
            table,
            {
                "data": [
                    {
                        "type": "heatmap",
                        "x": [str(k) for k in offsets],
                        "y": [c.strftime("%Y-%m") for c in months],
                        "z": z,
                        "text": text,
                        "texttemplate": "%{text}",
                        "colorscale": [[0, "#f0fbf4"], [0.3, "#95de64"], [1, "#05914a"]],
                        "zmin": 0,
                        "zmax": 100,
                        "hovertemplate": _("%{y} cohort, month %{x}: %{z}%<extra></extra>"),
                        "colorbar": {"ticksuffix": "%"},
                    }
                ],
                "layout": _layout(
                    height=max(260, 28 * len(months) + 90),
                    xaxis={
                        "title": {"text": _("months after the first purchase")},
                        "type": "category",
                    },
                    yaxis={"autorange": "reversed", "type": "category"},
                    hovermode="closest",
                ),
            },
            note=_(
                "Month 0 is 100%: the month of the first purchase. Later months: share of the "
                "cohort who bought again in that month."
            ),  # fmt: skip
        )
    )


def _funnel(cur, filters: Filters, page: Page) -> None:
    dims, dparams = filters.dims()
    case = " ".join(f"WHEN '{stage}' THEN {rank}" for stage, rank in REACHED.items())
    rows = cur.execute(
        f"SELECT greatest(CASE lifecycle {case} ELSE 0 END, CASE WHEN in_pool THEN 1 ELSE 0 END) "
        f"AS reached, count(*) FROM facts WHERE {dims} GROUP BY 1",
        dparams,
    ).fetchall()
    reached = {int(r): int(n) for r, n in rows}
    labels = _labels("siyu.analytics.models.Lifecycle")
    counts = [sum(n for r, n in reached.items() if r >= i) for i in range(len(FUNNEL))]
    names = [labels.get(s, s) for s in FUNNEL]
    page.add(
        Chart(
            "funnel",
            _("Funnel: aware → related → interested → purchased → loyal"),
            [_("Stage"), _("Customers who got this far"), _("Share of all")],
            [
                [name, n, round(n / counts[0], 4) if counts[0] else None]
                for name, n in zip(names, counts, strict=True)
            ],
            {
                "data": [
                    {
                        "type": "funnel",
                        "y": names,
                        "x": counts,
                        "textinfo": "value+percent initial",
                        "marker": {"color": PALETTE[: len(FUNNEL)]},
                    }
                ],
                "layout": _layout(
                    hovermode="closest", margin={"l": 140, "r": 16, "t": 12, "b": 20}
                ),
            },
            note=_(
                "Every customer today, by the furthest stage reached; at risk and lost "
                "customers count as purchased. The date range does not apply."
            ),  # fmt: skip
        )
    )


# --- channels ---------------------------------------------------------------------------------------


def channels(actor: Actor, filters: Filters) -> Page:
    cur, meta, started = _start(actor)
    page = Page()
    try:
        _channels(cur, filters, page)
    finally:
        cur.close()
    return _finish(page, meta, started)


def _channels(cur, filters: Filters, page: Page) -> None:
    dims, dparams = filters.dims()
    days, yparams = filters.days()
    first_seen, fparams = filters.days("first_seen_on")
    cutoff = timezone.localdate() - timedelta(days=90)
    sources = _labels("siyu.customers.models.Source")
    rows = cur.execute(
        f"""
        SELECT source, count(*) AS customers,
               count(*) FILTER (WHERE {first_seen}) AS new_customers,
               count(*) FILTER (WHERE in_pool) AS in_pool,
               count(*) FILTER (WHERE orders > 0) AS buyers,
               count(*) FILTER (WHERE first_purchase_on <= ?) AS eligible,
               count(*) FILTER (WHERE first_purchase_on <= ? AND repeat_90d) AS repeat_90d,
               avg(clv_365d_fen) FILTER (WHERE orders > 0) AS clv,
               avg(p_alive) FILTER (WHERE orders > 0) AS p_alive
        FROM facts WHERE {dims} GROUP BY source
        """,
        fparams + [cutoff, cutoff] + dparams,
    ).fetchall()
    gmv = dict(
        cur.execute(
            f"SELECT source, sum(gmv_fen) FROM dash_orders WHERE {dims} AND {days} GROUP BY 1",
            dparams + yparams,
        ).fetchall()
    )
    table = []
    for source, customers, new, pool, buyers, eligible, repeat, clv, p_alive in rows:
        table.append(
            [
                sources.get(source, source or _("Unknown")),
                int(customers),
                int(new),
                int(pool),
                int(buyers),
                _yuan(gmv.get(source, 0)),
                round(repeat / eligible, 4) if eligible else None,
                _yuan(clv),
                round(p_alive, 3) if p_alive is not None else None,
            ]
        )
    table.sort(key=lambda r: -(r[5] or 0))
    page.add(
        Chart(
            "channels",
            _("Sources: customers, GMV, 90-day repurchase and lifetime value"),
            [
                _("Source"),
                _("Customers"),
                _("New in range"),
                _("In the pool"),
                _("Buyers"),
                _("GMV in range (yuan)"),
                _("90-day repurchase rate"),
                _("Mean 1-year CLV (yuan)"),
                _("Mean P(alive)"),
            ],  # fmt: skip
            table,
            {
                "data": [
                    {
                        "type": "bar",
                        "name": _("GMV in range (yuan)"),
                        "x": [r[0] for r in table],
                        "y": [r[5] or 0 for r in table],
                        "marker": {"color": PALETTE[0]},
                    },
                    {
                        "type": "scatter",
                        "mode": "markers+lines",
                        "name": _("90-day repurchase rate"),
                        "x": [r[0] for r in table],
                        "y": [round((r[6] or 0) * 100, 1) for r in table],
                        "yaxis": "y2",
                        "marker": {"color": PALETTE[2]},
                    },
                ],
                "layout": _layout(
                    yaxis={"title": {"text": _("yuan")}},
                    yaxis2={
                        "overlaying": "y",
                        "side": "right",
                        "ticksuffix": "%",
                        "rangemode": "tozero",
                    },
                    hovermode="x",
                ),
            },
            note=_(
                "90-day repurchase: of buyers whose first purchase was at least 90 days ago, "
                "the share who bought again within 90 days of it."
            ),  # fmt: skip
        )
    )


# --- products ---------------------------------------------------------------------------------------


def products(actor: Actor, filters: Filters, *, top: int = 20, pairs: int = 30) -> Page:
    cur, meta, started = _start(actor)
    page = Page()
    try:
        _top_products(cur, filters, page, top)
        _pairs(cur, filters, page, pairs)
    finally:
        cur.close()
    return _finish(page, meta, started)


def _top_products(cur, filters: Filters, page: Page, top: int) -> None:
    days, yparams = filters.days()
    if filters.store_id is None and not filters.source:
        sql = (
            "SELECT product, any_value(title), sum(revenue_fen), sum(units), sum(lines) "
            f"FROM dash_products WHERE {days} GROUP BY product"
        )
        params = yparams
    else:  # one store's or one source's lines: a fraction of them, read directly
        dims, dparams = filters.dims("home_store_id")
        sql = (
            "SELECT product, any_value(product_title), sum(net_fen), sum(quantity), count(*) "
            f"FROM lines WHERE {dims} AND {days} AND product <> '' GROUP BY product"
        )
        params = dparams + yparams
    rows = cur.execute(f"{sql} ORDER BY 3 DESC, 1 LIMIT {int(top)}", params).fetchall()
    table = [[p, t, _yuan(r), int(q), int(o)] for p, t, r, q, o in rows]
    page.add(
        Chart(
            "top_products",
            _("Top products by revenue"),
            [_("Product"), _("Title"), _("Revenue (yuan)"), _("Units"), _("Orders")],
            table,
            {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "y": [r[1] or r[0] for r in table][::-1],
                        "x": [r[2] for r in table][::-1],
                        "marker": {"color": PALETTE[1]},
                        "hovertemplate": "%{y}: ¥%{x:,.2f}<extra></extra>",
                    }
                ],
                "layout": _layout(
                    height=max(260, 22 * len(table) + 60),
                    margin={"l": 220, "r": 16, "t": 12, "b": 30},
                    hovermode="closest",
                ),
            },
        )
    )


def _pairs(cur, filters: Filters, page: Page, limit: int) -> None:
    dims, dparams = filters.dims()
    buyers = cur.execute(
        f"SELECT coalesce(sum(customers), 0) FROM dash_buyers WHERE {dims}", dparams
    ).fetchall()[0][0]
    min_customers = max(3, int(buyers * 0.001))
    rows = cur.execute(
        f"""
        WITH p AS (SELECT a, b, sum(customers) AS n FROM dash_pairs WHERE {dims} GROUP BY 1, 2),
             pb AS (SELECT product, sum(customers) AS n FROM dash_product_buyers WHERE {dims}
                    GROUP BY 1),
             titles AS (SELECT product, title FROM products),
             directed AS (
                 SELECT a AS x, b AS y, n FROM p UNION ALL SELECT b AS x, a AS y, n FROM p
             )
        SELECT d.x, tx.title, d.y, ty.title, d.n, bx.n, by_.n
        FROM directed d
        JOIN pb bx ON bx.product = d.x JOIN pb by_ ON by_.product = d.y
        LEFT JOIN titles tx ON tx.product = d.x LEFT JOIN titles ty ON ty.product = d.y
        WHERE d.n >= ?
        ORDER BY (d.n::DOUBLE / bx.n) / (by_.n::DOUBLE / ?) DESC, d.n DESC
        LIMIT {int(limit)}
        """,
        dparams + dparams + [min_customers, max(buyers, 1)],
    ).fetchall()
    table = []
    for x, tx, y, ty, n, nx, ny in rows:
        confidence = n / nx
        table.append(
            [
                x,
                tx or x,
                y,
                ty or y,
                int(n),
                round(n / buyers, 4) if buyers else None,
                round(confidence, 4),
                round(confidence / (ny / buyers), 2) if buyers else None,
            ]  # fmt: skip
        )
    page.add(
        Chart(
            "pairs",
            _("Cross-sell: customers who bought X also bought Y"),
            [
                _("Bought X"),
                _("X title"),
                _("Also bought Y"),
                _("Y title"),
                _("Customers"),
                _("Support"),
                _("Confidence"),
                _("Lift"),
            ],  # fmt: skip
            table,
            None,
            note=_(
                "Over each customer's whole purchase history (the date range does not apply), "
                "among the %(n)s most bought products; pairs bought together by at least "
                "%(min)s customers. Support: share of all buyers who bought both. Confidence: "
                "share of X's buyers who bought Y. Lift: confidence ÷ share of all buyers who "
                "bought Y (above 1: more often together than by chance)."
            )
            % {"n": 100, "min": min_customers},  # fmt: skip
        )
    )


PAGES = {
    "overview": overview,
    "cohorts": cohorts,
    "channels": channels,
    "products": products,
}
