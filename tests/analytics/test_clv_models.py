"""BG/NBD and Gamma-Gamma: the published CDNOW results, the models' own properties, edge cases."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad

from siyu.analytics import clv

lifetimes = pytest.importorskip("lifetimes")
DATASETS = Path(lifetimes.__file__).parent / "datasets"


@pytest.fixture(scope="module")
def cdnow():
    """The 2,357-customer CDNOW summary shipped with lifetimes (weeks, calibration to 1997-09-30)."""
    data = np.genfromtxt(DATASETS / "cdnow_customers_summary.csv", delimiter=",", names=True)
    return data["frequency"], data["recency"], data["T"]


@pytest.fixture(scope="module")
def cdnow_spend():
    data = np.genfromtxt(
        DATASETS / "cdnow_customers_summary_with_transactions.csv", delimiter=",", names=True
    )
    return data["x"], data["zbar"]


@pytest.fixture(scope="module")
def cdnow_fit(cdnow):
    return clv.fit_bgnbd(*cdnow)


def test_bgnbd_on_cdnow_matches_fader_hardie_lee_2005(cdnow, cdnow_fit):
    x, _t_x, _T = cdnow
    assert x.size == 2357
    p = cdnow_fit
    # Fader, Hardie & Lee (2005), Marketing Science 24(2), p. 281: r, alpha, a, b and LL
    assert round(p.r, 3) == 0.243
    assert round(p.alpha, 3) == 4.414
    assert round(p.a, 3) == 0.793
    assert round(p.b, 3) == 2.426
    assert round(p.log_likelihood, 1) == -9582.4
    assert p.converged


def test_gamma_gamma_on_cdnow_matches_published_and_lifetimes(cdnow_spend):
    x, m = cdnow_spend
    p = clv.fit_gamma_gamma(x, m)
    # Fader, Hardie & Lee (2005), "RFM and CLV", JMR 42(4): p = 6.25, q = 3.74, gamma = 15.44
    assert (round(p.p, 2), round(p.q, 2), round(p.gamma, 2)) == (6.25, 3.74, 15.45)
    assert p.customers == 946  # customers with at least one repeat purchase
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import GammaGammaFitter

        repeat = x > 0
        reference = GammaGammaFitter().fit(x[repeat], m[repeat])
    assert reference.params_["p"] == pytest.approx(p.p, rel=1e-5)
    assert reference.params_["q"] == pytest.approx(p.q, rel=1e-5)
    assert reference.params_["v"] == pytest.approx(p.gamma, rel=1e-5)
    expected = reference.conditional_expected_average_profit(x, m)
    np.testing.assert_allclose(clv.expected_average_spend(p, x, m), expected, rtol=1e-5)


def test_predictions_agree_with_lifetimes_on_cdnow(cdnow, cdnow_fit):
    x, t_x, T = cdnow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter

        ref = BetaGeoFitter()
        ref.params_ = {
            "r": cdnow_fit.r,
            "alpha": cdnow_fit.alpha,
            "a": cdnow_fit.a,
            "b": cdnow_fit.b,
        }
        ref_alive = ref.conditional_probability_alive(x, t_x, T)
        ref_expected = ref.conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T)
        ref_new = ref.expected_number_of_purchases_up_to_time(39)
    np.testing.assert_allclose(clv.probability_alive(cdnow_fit, x, t_x, T), ref_alive, rtol=1e-9)
    np.testing.assert_allclose(
        clv.expected_purchases(cdnow_fit, 39, x, t_x, T), ref_expected, rtol=1e-6
    )
    assert clv.expected_purchases_new_customer(cdnow_fit, 39) == pytest.approx(ref_new, rel=1e-6)


def test_log_likelihood_gradients_are_exact():
    rng = np.random.default_rng(3)
    x = rng.poisson(2, 500).astype(float)
    T = rng.uniform(5, 50, 500)
    t_x = np.where(x > 0, rng.uniform(0, 1, 500) * T, 0.0)
    data = clv._BgNbdData(x, t_x, T)
    theta = np.log([0.7, 6.0, 0.9, 2.5])
    err = check_grad(
        lambda t: clv._bgnbd_nll_and_grad(t, data)[0],
        lambda t: clv._bgnbd_nll_and_grad(t, data)[1],
        theta,
    )
    assert err < 1e-5
    m = rng.gamma(3, 10, 500) + 1
    xs = np.maximum(x, 1)
    gg_args = (clv._GgData(xs, m, np.ones_like(m)),)
    err = check_grad(
        lambda t: clv._gg_nll_and_grad(t, *gg_args)[0],
        lambda t: clv._gg_nll_and_grad(t, *gg_args)[1],
        np.log([4.0, 3.0, 20.0]),
    )
    assert err < 1e-5


def test_customers_without_repeat_purchases_are_alive_by_definition(cdnow_fit):
    T = np.array([1.0, 10.0, 100.0, 1000.0])
    zeros = np.zeros(4)
    np.testing.assert_array_equal(clv.probability_alive(cdnow_fit, zeros, zeros, T), 1.0)


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(0, 5000),
    recency_share=st.floats(0, 1),
    T=st.floats(0.5, 500),
    t=st.floats(0.1, 500),
)
def test_predictions_stay_in_range_and_grow_with_horizon(cdnow_fit, x, recency_share, T, t):
    t_x = np.array([T * recency_share if x else 0.0])
    xs, Ts = np.array([float(x)]), np.array([T])
    alive = clv.probability_alive(cdnow_fit, xs, t_x, Ts)[0]
    assert 0.0 <= alive <= 1.0
    short = clv.expected_purchases(cdnow_fit, t, xs, t_x, Ts)[0]
    longer = clv.expected_purchases(cdnow_fit, t * 2, xs, t_x, Ts)[0]
    assert np.isfinite(short) and np.isfinite(longer)
    assert 0.0 <= short <= longer + 1e-12
    assert np.isfinite(clv.bgnbd_log_likelihood(cdnow_fit, xs, t_x, Ts)[0])


def test_a_recent_buyer_is_more_alive_than_one_who_stopped_long_ago(cdnow_fit):
    x = np.array([5.0, 5.0])
    t_x = np.array([38.0, 5.0])
    T = np.array([39.0, 39.0])
    alive = clv.probability_alive(cdnow_fit, x, t_x, T)
    assert alive[0] > 0.85 > 0.1 > alive[1]
    expected = clv.expected_purchases(cdnow_fit, 52, x, t_x, T)
    assert expected[0] > expected[1]


def test_huge_frequencies_stay_finite(cdnow_fit):
    x = np.array([1e4, 1e6, 1e7])
    t_x = np.array([38.0, 38.85, 30.0])
    T = np.full(3, 38.86)
    for values in (
        clv.bgnbd_log_likelihood(cdnow_fit, x, t_x, T),
        clv.probability_alive(cdnow_fit, x, t_x, T),
        clv.expected_purchases(cdnow_fit, 52, x, t_x, T),
    ):
        assert np.all(np.isfinite(values))
    # stopped 8.86 weeks ago after buying every few seconds: gone
    assert clv.probability_alive(cdnow_fit, x, t_x, T)[2] < 1e-12
    # a fit that includes very heavy buyers still converges to finite parameters
    cx = np.array([0, 1, 2, 3, 50_000, 0, 4], dtype=float)
    ct = np.array([0, 3, 5, 8, 9, 0, 7], dtype=float)
    fitted = clv.fit_bgnbd(cx, ct, np.full(7, 10.0))
    assert all(np.isfinite([fitted.r, fitted.alpha, fitted.a, fitted.b, fitted.log_likelihood]))


def test_all_zero_frequencies_cannot_identify_the_model():
    with pytest.raises(clv.InsufficientData):
        clv.fit_bgnbd(np.zeros(100), np.zeros(100), np.full(100, 20.0))
    with pytest.raises(clv.InsufficientData):
        clv.fit_gamma_gamma(np.zeros(100), np.full(100, 30.0))


def test_one_customer_is_not_enough():
    with pytest.raises(clv.InsufficientData):
        clv.fit_bgnbd([3], [10.0], [20.0])
    with pytest.raises(clv.InsufficientData):
        clv.fit_gamma_gamma([3], [10.0])


def test_inconsistent_summaries_are_rejected():
    with pytest.raises(ValueError, match="recency"):
        clv.fit_bgnbd([1, 2], [30.0, 5.0], [20.0, 20.0])
    with pytest.raises(ValueError, match="integer"):
        clv.fit_bgnbd([1.5, 2], [3.0, 5.0], [20.0, 20.0])
    with pytest.raises(ValueError, match="recency must be 0"):
        clv.fit_bgnbd([0, 2], [3.0, 5.0], [20.0, 20.0])


def test_weights_equal_repeated_customers(cdnow):
    x, t_x, T = (v[:400] for v in cdnow)
    repeated = clv.fit_bgnbd(np.tile(x, 3), np.tile(t_x, 3), np.tile(T, 3))
    weighted = clv.fit_bgnbd(x, t_x, T, weights=np.full(x.size, 3.0))
    assert weighted.r == pytest.approx(repeated.r, rel=1e-6)
    assert weighted.b == pytest.approx(repeated.b, rel=1e-6)
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, rel=1e-9)


def test_clv_is_purchases_times_spend_and_discounting_lowers_it(cdnow, cdnow_fit):
    x, t_x, T = (v[:50] for v in cdnow)
    spend = np.full(50, 40.0)
    plain = clv.customer_lifetime_value(cdnow_fit, spend, x, t_x, T, horizon=52)
    np.testing.assert_allclose(plain, clv.expected_purchases(cdnow_fit, 52, x, t_x, T) * 40.0)
    discounted = clv.customer_lifetime_value(
        cdnow_fit, spend, x, t_x, T, horizon=52, discount_rate=0.01, step=52 / 12
    )
    assert np.all(discounted <= plain + 1e-12)
    assert np.all(discounted >= plain / 1.01**12 - 1e-12)


def test_gradients_are_exact_on_a_day_grid_with_weights():
    # whole days: many customers share T and t_x, so the likelihood runs on the time grid
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.poisson(1.5, n).astype(float)
    T = rng.integers(1, 120, n).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * (T + 1)), 0.0)
    w = rng.integers(1, 4, n).astype(float)
    data = clv._BgNbdData(x, t_x, T, w)
    assert data.grid.size <= 121
    for theta in (np.log([0.7, 6.0, 0.9, 2.5]), np.log([2.0, 40.0, 0.3, 0.8])):
        err = check_grad(
            lambda t: clv._bgnbd_nll_and_grad(t, data)[0],
            lambda t: clv._bgnbd_nll_and_grad(t, data)[1],
            theta,
        )
        assert err < 1e-5
        nll = clv._bgnbd_nll_and_grad(theta, data)[0]
        per_customer = clv.bgnbd_log_likelihood(clv.BgNbdParams(*np.exp(theta)), x, t_x, T)
        assert nll == pytest.approx(-np.dot(w, per_customer) / w.sum(), rel=1e-12)


def test_distinct_triples_give_back_every_customer():
    rng = np.random.default_rng(8)
    x = rng.poisson(1, 5000).astype(float)
    T = rng.integers(0, 400, 5000).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, 5000) * (T + 1)), 0.0)
    for unit in (1.0, 7.0):  # whole days (packed keys) and weeks (fractions)
        ux, ut, uT, counts, inverse = clv.distinct_triples(x, t_x / unit, T / unit)
        assert ux.size < x.size and counts.sum() == x.size
        np.testing.assert_array_equal(ux[inverse], x)
        np.testing.assert_array_equal(ut[inverse], t_x / unit)
        np.testing.assert_array_equal(uT[inverse], T / unit)


def test_fit_and_predict_equals_the_per_customer_computation(cdnow, cdnow_fit, cdnow_spend):
    x, t_x, T = cdnow
    gx, m = cdnow_spend  # the same 2,357 customers, in the same order
    assert np.array_equal(gx, x)
    value = clv.fit_and_predict(x, t_x, T, np.where(x > 0, m, np.nan), horizons=(13, 52))
    assert value.distinct_triples < x.size
    bg = value.bgnbd
    for name in ("r", "alpha", "a", "b"):
        assert getattr(bg, name) == pytest.approx(getattr(cdnow_fit, name), rel=1e-6)
    assert value.gamma_gamma.p == pytest.approx(clv.fit_gamma_gamma(x, m).p, rel=1e-6)
    np.testing.assert_allclose(value.p_alive, clv.probability_alive(bg, x, t_x, T), rtol=1e-12)
    for h in (13, 52):
        expected = clv.expected_purchases(bg, h, x, t_x, T)
        np.testing.assert_allclose(value.expected_purchases[h], expected, rtol=1e-12)
        np.testing.assert_allclose(value.value[h], expected * value.expected_spend, rtol=1e-12)
    spend = clv.expected_average_spend(value.gamma_gamma, x, m)
    np.testing.assert_allclose(value.expected_spend, spend, rtol=1e-12)


def test_fit_and_predict_without_repeat_buyers_says_why():
    value = clv.fit_and_predict([0, 0, 0], [0, 0, 0], [3, 5, 9], [np.nan] * 3)
    assert value.bgnbd is None and "repeat purchase" in value.bgnbd_error
    assert value.gamma_gamma is None and value.gamma_gamma_error
    assert np.isnan(value.p_alive).all() and np.isnan(value.value[365.0]).all()
