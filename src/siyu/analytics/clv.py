"""Customer lifetime value: BG/NBD (purchases and P(alive)) and Gamma-Gamma (spend per purchase).

Pure NumPy/SciPy over arrays, no database. References:
* BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2).
* Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
  Analysis", Journal of Marketing Research 42(4); Fader & Hardie (2013), "The Gamma-Gamma Model of
  Monetary Value".

Inputs follow the usual summary of a customer's history in a calibration period:
``x`` (frequency) is the number of repeat purchase periods (purchases after the first, at most one
per period), ``t_x`` (recency) the time from the first to the last purchase, ``T`` the time from the
first purchase to the end of the calibration period, all in one time unit (days or weeks), and
``m`` the customer's average spend over the repeat purchases.

Everything is computed in log space (``gammaln``, ``logaddexp``, ``log1p``), so frequencies in the
millions neither overflow nor lose precision, and the conditional expectation uses an Euler
transformation of the hypergeometric function whose parameters stay small for large ``x``.
Parameters are fitted by maximum likelihood over log-parameters (so they stay positive) with
L-BFGS-B and analytic gradients. Terms that depend only on ``x`` are evaluated once per distinct
``x`` and weighted by its count, so a fit over a million customers costs a few array passes per
iteration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

# log-parameter bounds: e^-20 .. e^20 covers any unit of time or currency we use
_LOG_BOUNDS = (-20.0, 20.0)


class InsufficientData(ValueError):
    """The data cannot identify the model (no repeat purchases, too few customers...)."""

    code = "insufficient_data"


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD: purchase rates ~ Gamma(r, alpha); drop-out probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    customers: int = 0
    iterations: int = 0
    converged: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma: a customer's spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")
    customers: int = 0
    iterations: int = 0
    converged: bool = True
    # Pearson correlation of frequency and average spend among the fitted customers: the model
    # assumes they are independent, so a large value is a warning to the analyst.
    frequency_spend_correlation: float = float("nan")

    def as_dict(self) -> dict:
        return asdict(self)


def _as_arrays(*arrays) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    n = out[0].shape[0]
    if any(a.shape[0] != n for a in out):
        raise ValueError("frequency, recency and T must have the same length")
    return out


def check_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    """Reject summaries the model cannot mean (the same checks an analyst would make)."""
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t_x)) and np.all(np.isfinite(T))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must be a non-negative integer count of repeat purchases")
    if np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ValueError("recency must lie between 0 and T")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 for customers without repeat purchases")


# --- BG/NBD -----------------------------------------------------------------------------------------


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not np.dot: some OpenBLAS builds run 1-D ddot an order of magnitude slower
    return float(np.einsum("i,i->", a, b))


class _BgNbdData:
    """The summary arranged for fast likelihood evaluation.

    * terms that depend only on x are evaluated once per distinct x;
    * ``T`` and ``t_x`` take few distinct values (whole days or weeks), so ``log(alpha + T)`` and
      ``1/(alpha + T)`` are evaluated on that small grid and gathered, and the sums over all
      customers of ``(r + x) log(alpha + T)`` collapse to sums over the grid;
    * only the drop-out term of repeat buyers needs one pass per customer (or distinct triple),
      into preallocated work arrays (fresh large arrays cost page faults that dominate the
      arithmetic).
    """

    def __init__(self, x, t_x, T, weights=None):
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
        self.total = float(w.sum())
        # distinct frequencies and their (weighted) counts for the x-only terms
        self.ux, x_index = np.unique(x, return_inverse=True)
        self.ux_w = np.bincount(x_index, weights=w)
        self.ux_repeat = self.ux > 0
        # the time grid: every distinct value of T and of the repeaters' t_x
        repeat = x > 0
        self.grid, g_index = np.unique(np.concatenate([T, t_x[repeat]]), return_inverse=True)
        T_index, t_index = g_index[: x.size], g_index[x.size :]
        size = self.grid.size
        # everyone: -(r + x) log(alpha + T) = -(r W_g + WX_g) log(alpha + g) summed over the grid
        self.T_w = np.bincount(T_index, weights=w, minlength=size)
        self.T_wx = np.bincount(T_index, weights=w * x, minlength=size)
        # repeaters, one entry each
        self.xr = x[repeat]
        self.wr = w[repeat]
        self.xr_index = x_index[repeat]
        self.Tr_index = T_index[repeat]
        self.tr_index = t_index
        self.nr = self.xr.size
        self._r = np.empty((3, self.nr))
        self._m = np.empty(self.nr)


def _bgnbd_nll_and_grad(theta: np.ndarray, d: _BgNbdData) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood and its gradient in log-parameters."""
    r, alpha, a, b = np.exp(theta)
    ux, uw = d.ux, d.ux_w
    # x-only terms, once per distinct x
    ll_x = (
        gammaln(r + ux)
        - gammaln(r)
        + gammaln(a + b)
        + gammaln(b + ux)
        - gammaln(b)
        - gammaln(a + b + ux)
    )
    ll = _dot(uw, ll_x) + d.total * r * np.log(alpha)
    g_r = _dot(uw, digamma(r + ux) - digamma(r)) + d.total * np.log(alpha)
    g_alpha = d.total * r / alpha
    psi_ab = digamma(a + b)
    g_a = _dot(uw, psi_ab - digamma(a + b + ux))
    g_b = _dot(uw, psi_ab + digamma(b + ux) - digamma(b) - digamma(a + b + ux))
    # log and reciprocal of b + x - 1 for repeaters (x = 0 is never looked up; left at 0)
    bx1 = b + ux[d.ux_repeat] - 1.0
    log_bx1_u = np.zeros_like(ux)
    log_bx1_u[d.ux_repeat] = np.log(bx1)
    inv_bx1_u = np.zeros_like(ux)
    inv_bx1_u[d.ux_repeat] = 1.0 / bx1

    # everyone: -(r+x) log(alpha+T), still alive at T; on the time grid
    ag = d.grid + alpha
    log_ag = np.log(ag)
    inv_ag = 1.0 / ag
    coef = r * d.T_w + d.T_wx
    ll -= _dot(coef, log_ag)
    g_r -= _dot(d.T_w, log_ag)
    g_alpha -= _dot(coef, inv_ag)

    if d.nr:
        # repeaters may also have died right after their last purchase:
        # + softplus(diff), diff = log a - log(b+x-1) + (r+x) log((alpha+T)/(alpha+t_x));
        # the derivative of softplus is w4 = sigmoid(diff), the weight of that branch
        lt, diff, w4 = d._r
        # take(mode="clip"): the default mode buffers `out` and costs 4x (indices are in range)
        np.take(log_ag, d.Tr_index, out=lt, mode="clip")
        lt -= np.take(log_ag, d.tr_index, out=diff, mode="clip")  # log((alpha+T)/(alpha+t_x))
        np.add(d.xr, r, out=diff)
        diff *= lt
        diff -= np.take(log_bx1_u, d.xr_index, out=w4, mode="clip")
        diff += np.log(a)
        # softplus(diff) = max(diff, 0) + log1p(exp(-|diff|)) and sigmoid = exp(diff - softplus):
        # plain exp/log1p run vectorised, several times faster than np.logaddexp or expit
        np.abs(diff, out=w4)
        np.negative(w4, out=w4)
        np.exp(w4, out=w4)
        np.log1p(w4, out=w4)
        w4 += np.maximum(diff, 0.0, out=d._m)  # w4 = softplus(diff)
        diff -= w4
        ll += _dot(d.wr, w4)
        np.exp(diff, out=w4)  # sigmoid(diff)
        w4 *= d.wr  # weighted w4 from here on
        g_r += _dot(w4, lt)
        g_a += float(w4.sum()) / a
        g_b -= _dot(np.bincount(d.xr_index, weights=w4, minlength=ux.size), inv_bx1_u)
        # alpha: the w4 share of the derivative moves from (alpha+T) to (alpha+t_x)
        np.add(d.xr, r, out=lt)
        w4 *= lt  # w4 (r + x)
        size = d.grid.size
        g_alpha += _dot(np.bincount(d.Tr_index, weights=w4, minlength=size), inv_ag)
        g_alpha -= _dot(np.bincount(d.tr_index, weights=w4, minlength=size), inv_ag)

    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
    return -ll / d.total, -grad / d.total


def bgnbd_log_likelihood(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """Per-customer log-likelihood of the summary under the given parameters."""
    x, t_x, T_ = _as_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    ll = (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
        - (r + x) * np.log(alpha + T_)
    )
    rep = x > 0
    diff = (
        np.log(a)
        - np.log(b + x[rep] - 1.0)
        + (r + x[rep]) * (np.log(alpha + T_[rep]) - np.log(alpha + t_x[rep]))
    )
    ll[rep] += np.logaddexp(0.0, diff)
    return ll


def fit_bgnbd(
    frequency,
    recency,
    T,
    *,
    weights=None,
    initial: tuple[float, float, float, float] | None = None,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD over all customers.

    ``weights`` counts identical customers (a compressed summary). Raises InsufficientData when
    the data cannot identify the model: no customers, or nobody with a repeat purchase (then the
    drop-out parameters a, b do not appear in the likelihood at all).
    """
    x, t_x, T_ = _as_arrays(frequency, recency, T)
    check_summary(x, t_x, T_)
    if x.size < 2:
        raise InsufficientData("BG/NBD needs at least two customers")
    if not np.any(x > 0):
        raise InsufficientData("BG/NBD needs at least one customer with a repeat purchase")
    if not np.any(T_ > 0):
        raise InsufficientData("BG/NBD needs customers observed for some time (T > 0)")
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != x.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be non-negative counts, one per customer")
    data = _BgNbdData(x, t_x, T_, w)

    if initial is None:
        # rates ~ Gamma(r, alpha) with mean r/alpha ~ observed repeat rate; drop-out Beta(1, 1)
        mean_rate = max(float(np.average(x, weights=w)), 1e-3) / max(
            float(np.average(T_, weights=w)), 1e-9
        )
        initial = (1.0, 1.0 / mean_rate, 1.0, 1.0)
    theta0 = np.log(np.asarray(initial, dtype=np.float64))
    theta0 = np.clip(theta0, *_LOG_BOUNDS)
    result, converged = _maximise(_bgnbd_nll_and_grad, theta0, (data,))
    r, alpha, a, b = (float(v) for v in np.exp(result.x))
    return BgNbdParams(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=float(-result.fun * data.total),
        customers=int(round(data.total)),
        iterations=int(result.nit),
        converged=converged,
    )


def _maximise(fun, theta0: np.ndarray, args: tuple):
    """Minimise the mean negative log-likelihood over log-parameters.

    L-BFGS-B gets close; a few Newton steps (Hessian from finite differences of the analytic
    gradient, 2k gradient calls for k parameters) then converge quadratically, so the optimum is
    exact to the last digits without hundreds of line searches. Converged means a gradient below
    1e-7 per customer and no parameter pinned at a bound.
    """
    # L-BFGS-B calls BLAS on vectors of four: with OpenBLAS's threads awake, every call pays a
    # wake-up and the fit runs twice as long (much more on a busy machine). One thread it is.
    with threadpool_limits(limits=1, user_api="blas"):
        return _maximise_1(fun, theta0, args)


def _maximise_1(fun, theta0: np.ndarray, args: tuple):
    bounds = [_LOG_BOUNDS] * len(theta0)
    result = minimize(
        fun,
        theta0,
        args=args,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20},
    )
    theta, f, g = result.x, float(result.fun), np.asarray(result.jac)
    iterations = int(result.nit)
    for _step in range(20):
        if np.max(np.abs(g)) < 1e-10 or _at_bound(theta):
            break
        h = np.empty((theta.size, theta.size))
        eps = 1e-5
        for i in range(theta.size):
            e = np.zeros_like(theta)
            e[i] = eps
            h[:, i] = (fun(theta + e, *args)[1] - fun(theta - e, *args)[1]) / (2 * eps)
        h = (h + h.T) / 2
        try:
            step = -np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.dot(step, g) >= 0:
            break  # not a descent direction: leave it to L-BFGS-B's answer
        scale = 1.0
        while scale > 1e-4:
            candidate = np.clip(theta + scale * step, *_LOG_BOUNDS)
            f_new, g_new = fun(candidate, *args)
            if f_new <= f + 1e-4 * scale * np.dot(step, g):
                theta, f, g = candidate, float(f_new), np.asarray(g_new)
                break
            scale /= 2
        else:
            break
        iterations += 1
    result.x, result.fun, result.jac, result.nit = theta, f, g, iterations
    converged = bool(np.max(np.abs(g)) < 1e-7) and not _at_bound(theta)
    return result, converged


def _at_bound(theta: np.ndarray) -> bool:
    return bool(np.any(np.abs(np.abs(theta) - _LOG_BOUNDS[1]) < 1e-6))


def _log_death_odds(params: BgNbdParams, x, t_x, T_) -> np.ndarray:
    """log of (a/(b+x-1)) ((alpha+T)/(alpha+t_x))^(r+x) for repeaters; -inf for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    out = np.full(x.shape, -np.inf)
    rep = x > 0
    out[rep] = (
        np.log(a)
        - np.log(b + x[rep] - 1.0)
        + (r + x[rep]) * (np.log(alpha + T_[rep]) - np.log(alpha + t_x[rep]))
    )
    return out


def probability_alive(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """P(the customer is still active at T | x, t_x, T).

    In BG/NBD a customer can only drop out right after a purchase, so a customer with no repeat
    purchase (x = 0) is alive with probability 1 by the model's definition.
    """
    x, t_x, T_ = _as_arrays(frequency, recency, T)
    return expit(-_log_death_odds(params, x, t_x, T_))


def expected_purchases(params: BgNbdParams, t, frequency, recency, T) -> np.ndarray:
    """E[repeat purchases in (T, T + t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10).

    The factor ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z) is rewritten with Euler's
    transformation as (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z), z = t/(alpha+T+t): the same
    value, but the hypergeometric parameters no longer grow with x, so it neither overflows nor
    cancels for frequent buyers.
    """
    x, t_x, T_ = _as_arrays(frequency, recency, T)
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T_ + t)
    f = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    # 1 - (1-z)^(a-1) * f  ==  -expm1((a-1) log1p(-z) + log f), accurate when the product is ~1
    log_scale = (a - 1.0) * np.log1p(-z)
    with np.errstate(invalid="ignore", divide="ignore"):
        bracket = np.where(
            f > 0,
            -np.expm1(log_scale + np.log(np.where(f > 0, f, 1.0))),
            1.0 - np.exp(log_scale) * f,  # f <= 0 only for extreme parameters
        )
    # the limit a -> 1 is finite; avoid 0/0
    a_minus_1 = 1e-9 if abs(a - 1.0) < 1e-9 else a - 1.0
    unconditional = (a + b + x - 1.0) / a_minus_1 * bracket
    p_alive = expit(-_log_death_odds(params, x, t_x, T_))
    out = unconditional * p_alive
    return np.where(t > 0, np.maximum(out, 0.0), 0.0)


def expected_purchases_new_customer(params: BgNbdParams, t: float) -> float:
    """E[X(t)]: purchases a brand-new customer makes in a period of length t (eq. 9)."""
    one = np.zeros(1)
    return float(expected_purchases(params, t, one, one, one)[0])


# --- Gamma-Gamma ------------------------------------------------------------------------------------


def _gg_nll_and_grad(theta: np.ndarray, d: _GgData) -> tuple[float, np.ndarray]:
    p, q, g = np.exp(theta)
    ux, uw = d.ux, d.uw
    pux = p * ux
    # x-only terms, once per distinct x (weighted by how many customers have it)
    ll = _dot(uw, gammaln(pux + q) - gammaln(pux) - gammaln(q) + q * np.log(g) + pux * d.log_ux)
    psi_u = digamma(pux + q)
    g_p = _dot(uw * ux, psi_u - digamma(pux) + d.log_ux)
    g_q = _dot(uw, psi_u - digamma(q) + np.log(g))
    g_g = d.total * q / g
    # per customer: (px - 1) log m - (px + q) log(gamma + m x)
    log_gmx, inv_gmx = d._buf
    np.add(d.mx, g, out=log_gmx)
    np.reciprocal(log_gmx, out=inv_gmx)
    np.log(log_gmx, out=log_gmx)
    s_wx_l, s_w_l = _dot(d.wx, log_gmx), _dot(d.w, log_gmx)
    ll += p * d.s_wx_logm - d.s_w_logm - p * s_wx_l - q * s_w_l
    g_p += d.s_wx_logm - s_wx_l
    g_q -= s_w_l
    g_g -= p * _dot(d.wx, inv_gmx) + q * _dot(d.w, inv_gmx)
    grad = np.array([g_p * p, g_q * q, g_g * g])
    return -ll / d.total, -grad / d.total


class _GgData:
    def __init__(self, x, m, w):
        self.x, self.m, self.w = x, m, w
        self.mx = m * x
        self.wx = w * x
        log_m = np.log(m)
        self.s_wx_logm = _dot(self.wx, log_m)
        self.s_w_logm = _dot(w, log_m)
        self.total = float(w.sum())
        self.ux, inverse = np.unique(x, return_inverse=True)
        self.uw = np.bincount(inverse, weights=w)
        self.log_ux = np.log(self.ux)
        self._buf = np.empty((2, x.size))


def fit_gamma_gamma(frequency, monetary_value, *, weights=None) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma over customers with repeat purchases and positive spend.

    Customers with x = 0 (no repeat purchase) or m <= 0 are left out, as the model is defined on
    the average of the repeat purchases.
    """
    x = np.asarray(frequency, dtype=np.float64).ravel()
    m = np.asarray(monetary_value, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    x, m, w = x[keep], m[keep], w[keep]
    if x.size < 2:
        raise InsufficientData(
            "Gamma-Gamma needs at least two customers with repeat purchases and spend"
        )
    data = _GgData(x, m, w)
    total = data.total
    mean = float(np.average(m, weights=w))
    # starting point: shape p = 1, q = 3 (finite mean), gamma so the population mean matches
    p0, q0 = 1.0, 3.0
    theta0 = np.log([p0, q0, mean * (q0 - 1.0) / p0])
    result, converged = _maximise(_gg_nll_and_grad, np.clip(theta0, *_LOG_BOUNDS), (data,))
    p, q, g = (float(v) for v in np.exp(result.x))
    corr = float(np.corrcoef(x, m)[0, 1]) if x.size > 2 and np.std(x) > 0 else float("nan")
    return GammaGammaParams(
        p=p,
        q=q,
        gamma=g,
        log_likelihood=float(-result.fun * total),
        customers=int(round(total)),
        iterations=int(result.nit),
        converged=converged,
        frequency_spend_correlation=corr,
    )


def expected_average_spend(params: GammaGammaParams, frequency, monetary_value) -> np.ndarray:
    """E[spend per purchase | x, m]: a weighted mean of the population mean p*gamma/(q-1) and
    the customer's own average m, the weight of m growing with x.

    For x = 0 it is the population mean. Undefined (NaN) when q <= 1 (infinite population mean).
    """
    x = np.asarray(frequency, dtype=np.float64).ravel()
    m = np.nan_to_num(np.asarray(monetary_value, dtype=np.float64).ravel(), nan=0.0)
    p, q, g = params.p, params.q, params.gamma
    if q <= 1.0:
        return np.full(x.shape, np.nan)
    m = np.where(x > 0, m, 0.0)
    return p * (g + x * m) / (p * x + q - 1.0)


# --- value ------------------------------------------------------------------------------------------


def customer_lifetime_value(
    bgnbd: BgNbdParams,
    spend: np.ndarray,
    frequency,
    recency,
    T,
    *,
    horizon: float,
    discount_rate: float = 0.0,
    step: float | None = None,
) -> np.ndarray:
    """Expected spend over the next ``horizon`` time units.

    Without discounting it is E[purchases in horizon] x expected spend per purchase. With a
    ``discount_rate`` per ``step`` (for example 1% per 30 days), the horizon is cut into steps;
    the purchases expected in step k are discounted by (1 + rate)^k, as in a discounted cash-flow.
    """
    x, t_x, T_ = _as_arrays(frequency, recency, T)
    spend = np.asarray(spend, dtype=np.float64).ravel()
    if discount_rate <= 0:
        return expected_purchases(bgnbd, horizon, x, t_x, T_) * spend
    step = step or horizon
    edges = np.arange(step, horizon + step / 2, step)
    if edges.size == 0 or edges[-1] < horizon - 1e-9:
        edges = np.append(edges, horizon)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k, end in enumerate(edges, start=1):
        cumulative = expected_purchases(bgnbd, end, x, t_x, T_)
        total += (cumulative - previous) / (1.0 + discount_rate) ** k
        previous = cumulative
    return total * spend


# --- the whole pipeline -----------------------------------------------------------------------------


def distinct_triples(frequency, recency, T) -> tuple[np.ndarray, ...]:
    """The distinct (x, t_x, T) of a summary, how many customers share each, and each customer's
    triple: ``(x, t_x, T, counts, inverse)`` with ``x[inverse] == frequency`` and so on.

    Customers observed in whole days share triples often (everyone who bought once on the same
    day has the same one), and the models only see the triple. Integer summaries are packed into
    one int64 key, which sorts an order of magnitude faster than rows of floats.
    """
    x, t_x, T_ = _as_arrays(frequency, recency, T)
    if x.size == 0:
        empty = np.zeros(0)
        return empty, empty, empty, empty, np.zeros(0, dtype=np.intp)
    integral = all(np.array_equal(a, np.floor(a)) and a.min() >= 0 for a in (x, t_x, T_))
    span_t, span_T = (t_x.max() + 1, T_.max() + 1) if integral else (0, 0)
    if integral and (x.max() + 1) * span_t * span_T < 2.0**62:
        key = (x.astype(np.int64) * int(span_t) + t_x.astype(np.int64)) * int(span_T)
        key += T_.astype(np.int64)
        keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        ux, rest = np.divmod(keys, int(span_t) * int(span_T))
        ut, uT = np.divmod(rest, int(span_T))
        return (
            ux.astype(np.float64),
            ut.astype(np.float64),
            uT.astype(np.float64),
            counts.astype(np.float64),
            inverse.ravel(),
        )
    rows, inverse, counts = np.unique(
        np.stack([x, t_x, T_], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    return rows[:, 0], rows[:, 1], rows[:, 2], counts.astype(np.float64), inverse.ravel()


@dataclass
class CustomerValue:
    """Both models fitted over all customers and their per-customer predictions, aligned with the
    input arrays. Predictions are NaN where a model could not be fitted (see the errors)."""

    bgnbd: BgNbdParams | None
    gamma_gamma: GammaGammaParams | None
    bgnbd_error: str
    gamma_gamma_error: str
    p_alive: np.ndarray
    expected_purchases: dict[float, np.ndarray]
    expected_spend: np.ndarray
    value: dict[float, np.ndarray]  # expected purchases (discounted) x expected spend
    distinct_triples: int
    timings: dict[str, float]


def fit_and_predict(
    frequency,
    recency,
    T,
    monetary=None,
    *,
    horizons=(90.0, 365.0),
    discount_rate: float = 0.0,
    discount_step: float | None = None,
) -> CustomerValue:
    """The CLV pipeline over a summary: BG/NBD fitted on the distinct (x, t_x, T) triples weighted
    by their counts, Gamma-Gamma on the repeat buyers' average spend (``monetary``; leave it out
    for purchases only), then P(alive), expected purchases and value for every horizon, computed
    once per distinct triple and spread to the customers."""
    import time

    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 4)
        clock = now

    x, t_x, T_ = _as_arrays(frequency, recency, T)
    n = x.size
    ux, ut, uT, counts, inverse = distinct_triples(x, t_x, T_)
    lap("distinct_triples")
    bg = gg = None
    bg_error = gg_error = ""
    try:
        bg = fit_bgnbd(ux, ut, uT, weights=counts)
    except InsufficientData as exc:
        bg_error = str(exc)
    lap("bgnbd_fit")
    if monetary is not None:
        m = np.asarray(monetary, dtype=np.float64).ravel()
        try:
            gg = fit_gamma_gamma(x, m)
        except InsufficientData as exc:
            gg_error = str(exc)
    else:
        m = np.full(n, np.nan)
        gg_error = "no amounts"
    lap("gamma_gamma_fit")

    nan = np.full(n, np.nan)
    expected: dict[float, np.ndarray] = {}
    discounted: dict[float, np.ndarray] = {}
    if bg is not None:
        p_alive = probability_alive(bg, ux, ut, uT)[inverse]
        for h in horizons:
            per_triple = expected_purchases(bg, h, ux, ut, uT)
            expected[h] = per_triple[inverse]
            if discount_rate > 0:
                per_triple = customer_lifetime_value(
                    bg, np.ones_like(ux), ux, ut, uT,
                    horizon=h, discount_rate=discount_rate, step=discount_step,
                )  # fmt: skip
                discounted[h] = per_triple[inverse]
            else:
                discounted[h] = expected[h]
    else:
        p_alive = nan
        expected = {h: nan for h in horizons}
        discounted = expected
    spend = expected_average_spend(gg, x, m) if gg is not None else nan
    value = {h: discounted[h] * spend for h in horizons}
    lap("predictions")
    return CustomerValue(
        bgnbd=bg,
        gamma_gamma=gg,
        bgnbd_error=bg_error,
        gamma_gamma_error=gg_error,
        p_alive=p_alive,
        expected_purchases=expected,
        expected_spend=spend,
        value=value,
        distinct_triples=int(ux.size),
        timings=timings,
    )
