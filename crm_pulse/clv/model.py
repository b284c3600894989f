"""Customer lifetime value: BG/NBD purchase model and Gamma-Gamma spend model.

Pure numpy/scipy/polars functions, no Dagster. Sources of every formula:

* [FHL05] Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
  the Pareto/NBD Model", Marketing Science 24(2) - BG/NBD likelihood (eq. 6) and conditional
  expectation (eq. 10); derivation details in Hardie's note 004 (brucehardie.com/notes/004).
* [H-021] Fader, Hardie & Lee, "Computing P(alive) Using the BG/NBD Model" (note 021).
* [H-025] Fader & Hardie, "The Gamma-Gamma Model of Monetary Value" (note 025): likelihood
  (eq. 1a) and conditional expected average spend (eq. 5); model from Fader, Hardie & Lee
  (2005), "RFM and CLV: Using Iso-Value Curves", JMR 42(4).
* The `lifetimes` package (0.11.3, MIT): the summary semantics (`summary_data_from_transaction_data`
  with freq="D" and freq_multiplier=days per unit), the hyp2f1 fallback and the discounted
  monthly CLV sum (`utils._customer_lifetime_value`) are reproduced exactly; tests/test_clv.py
  checks them against it.

Conventions: x = frequency (repeat purchase days), t_x = recency, T = age, all in one time unit
("W" = 7 days, "D" = 1 day). Fits never raise on data problems: they return a FitResult with
``converged=False`` and a message, and the prediction helpers turn such fits into NaN/null.

Degenerate fits: when the maximum-likelihood optimum runs off to a parameter limit (a parameter
beyond exp(+/-14) on the optimiser's scale), the data sit on a boundary of the model and the fit
falls back (``FitResult.kind``):

* ``limiting`` - the model's limiting case, itself fitted by maximum likelihood. BG/NBD with
  a/(a+b) -> 0 (nobody drops out; also a converged optimum with a/(a+b) < exp(-14)) is the NBD
  model: P(alive) = 1 and E[Y(t)] = (r+x) t / (alpha+T) (a = 0, b = inf); if its purchase rates
  do not vary either (r, alpha -> inf) it is the Poisson model, E[Y(t)] = lambda t with
  lambda = sum(x) / sum(T) (r = alpha = inf). Gamma-Gamma with q -> inf (no spend heterogeneity
  between customers; also when every repeat buyer has the same mean spend, where the optimum is
  unbounded) predicts the population mean spend for everyone: E[M] = sum(x m_x) / sum(x), the
  MLE of p/nu (p, q, v not identified; log-likelihood NaN).
* ``penalised`` - any other degenerate or non-converged optimum: refitted with the L2 penalty of
  lifetimes' ``penalizer_coef`` (0.001, then 0.01, 0.1), the first that converges.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl
from scipy import optimize, special

DAYS_PER_UNIT = {"D": 1.0, "W": 7.0}
#: time units per month used by the discounted CLV sum (the factors of lifetimes).
UNITS_PER_MONTH = {"D": 30.0, "W": 4.345, "M": 1.0}
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GG_PARAMS = ("p", "q", "v")
_LOG_BOUND = 18.0  # |log(param)| limit of the optimiser
_DEGENERATE = 14.0  # |log(param)| beyond which an optimum is degenerate (a parameter running off to 0 or inf)
PENALIZERS = (1e-3, 1e-2, 1e-1)  # fallback penalties tried in turn (lifetimes' penalizer_coef scale)
FIT_KINDS = ("mle", "penalised", "limiting", "not_fitted")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of a maximum-likelihood fit.

    ``params`` are in the data's units (NaN when no fit was attempted); ``log_likelihood`` is the
    total (not mean) unpenalised log-likelihood at ``params``; ``converged`` is False whenever the
    fit must not be used for predictions, and ``message`` says why. ``kind`` is one of FIT_KINDS
    (see the module docstring): how the usable parameters were obtained.
    """

    params: dict[str, float]
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str
    kind: str = "mle"


# --------------------------------------------------------------------------------------------
# Transactions -> (frequency, recency, T, monetary_value)
# --------------------------------------------------------------------------------------------
def _as_date(value) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # includes pandas.Timestamp
        return value.date()
    if isinstance(value, dt.date):
        return value
    return np.datetime64(value, "D").astype(dt.date)


def summary_from_transactions(df, customer_col: str, date_col: str, value_col: str | None,
                              observation_end=None, time_unit: str = "W", calibration_start=None):
    """Per-customer RFM summary, exactly as lifetimes' ``summary_data_from_transaction_data``
    with ``freq="D"``, ``freq_multiplier=DAYS_PER_UNIT[time_unit]``.

    Rows are truncated to calendar days, rows after ``observation_end`` (default: the last day
    in the data) are dropped and values are summed per customer-day. Then per customer:
    ``frequency`` = purchase days - 1, ``recency`` = last day - first day, ``T`` =
    observation_end - first day (both in time units), ``monetary_value`` = mean value of the
    repeat days (first day excluded; 0 when frequency is 0). ``calibration_start`` selects the
    cohort: customers whose first purchase is before it are left out (their history would be
    left-truncated). Accepts a pandas or polars DataFrame and returns the same kind, sorted by
    ``customer_id``.
    """
    days_per_unit = DAYS_PER_UNIT[time_unit]
    is_polars = isinstance(df, (pl.DataFrame, pl.LazyFrame))
    cols = [customer_col, date_col] + ([value_col] if value_col else [])
    lf = (df.select(cols) if is_polars else pl.from_pandas(df[cols])).lazy()
    day = pl.col(date_col)
    day = day.str.to_datetime().dt.date() if lf.collect_schema()[date_col] == pl.String else day.cast(pl.Date)
    lf = lf.select(pl.col(customer_col).alias("customer_id"), day.alias("day"),
                   (pl.col(value_col).cast(pl.Float64) if value_col else pl.lit(0.0)).alias("value"))
    lf = lf.drop_nulls(["customer_id", "day"])
    end = _as_date(observation_end)
    if end is None:
        end = lf.select(pl.col("day").max()).collect().item() or dt.date(1970, 1, 1)  # (empty input)
    start = _as_date(calibration_start) or dt.date.min
    # sorted rows and order-keeping groups: every float sum runs in one fixed order and on
    # contiguous groups, so the summary - and the fit - is reproducible bit for bit (a plain
    # parallel group_by sums in an arbitrary order and differs in the last bits between runs)
    per_day = (lf.filter(pl.col("day") <= end).sort("customer_id", "day", "value")
               .group_by("customer_id", "day", maintain_order=True).agg(pl.col("value").sum()))
    first = pl.col("day").min()
    out = (
        per_day.group_by("customer_id", maintain_order=True)
        .agg(
            (pl.len() - 1).cast(pl.Int64).alias("frequency"),
            ((pl.col("day").max() - first).dt.total_days() / days_per_unit).alias("recency"),
            ((pl.lit(end) - first).dt.total_days() / days_per_unit).alias("T"),
            pl.col("value").filter(pl.col("day") != first).mean().fill_null(0.0).alias("monetary_value"),
            first.alias("first_day"),
        )
        .filter(pl.col("first_day") >= start)
        .drop("first_day")
        .sort("customer_id")
        .collect()
    )
    if not value_col:
        out = out.drop("monetary_value")
    return out if is_polars else out.to_pandas()


# --------------------------------------------------------------------------------------------
# Likelihoods (negative mean log-likelihood and its gradient w.r.t. log-parameters)
# --------------------------------------------------------------------------------------------
_BLOCK = 8192  # rows per block: small temporaries stay in cache and avoid page-fault-bound big allocations


def _blocks(n: int):
    return (slice(i, i + _BLOCK) for i in range(0, n, _BLOCK))


def _blockwise(fn, *arrays) -> np.ndarray:
    """fn applied block by block to the broadcast arrays (same result as fn(*arrays))."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in arrays))
    out = np.empty(arrays[0].shape)
    flat = [v.reshape(-1) for v in arrays]
    for s in _blocks(out.size):
        out.reshape(-1)[s] = fn(*(v[s] for v in flat))
    return out


def _bgnbd_block(r, alpha, a, b, x, tx, T, w):
    """Per-row sums of the BG/NBD log-likelihood and gradient pieces for one block."""
    rx = r + x
    pos = x > 0
    bx1 = b + np.maximum(x, 1.0) - 1.0
    l_T, l_tx = np.log(alpha + T), np.log(alpha + tx)
    A3 = -rx * l_T
    A4 = math.log(a) - np.log(bx1) - rx * l_tx
    m = np.where(pos, np.maximum(A3, A4), A3)
    e3, e4 = np.exp(A3 - m), np.where(pos, np.exp(A4 - m), 0.0)
    s = e3 + e4
    q4 = e4 / s  # posterior weight of "dropped out right after the last purchase"
    wq4 = w * q4
    return np.array([w @ (m + np.log(s)), w @ l_T - wq4 @ (l_T - l_tx),
                     (w * rx) @ ((1.0 - q4) / (alpha + T) + q4 / (alpha + tx)), wq4.sum(), wq4 @ (1.0 / bx1)])


def _bgnbd_nll(theta, x, tx, T, w, ks, counts, penalizer):
    """BG/NBD -LL/n and its gradient in log-space; [FHL05] eq. 6 in the log-sum-exp form of
    note 004 / lifetimes:
    ln L = A1 + A2 + ln(exp(A3) + [x>0] exp(A4)), A1 = lnG(r+x) - lnG(r) + r ln(alpha),
    A2 = ln B(a, b+x) - ln B(a, b), A3 = -(r+x) ln(alpha+T),
    A4 = ln a - ln(b+x-1) - (r+x) ln(alpha+t_x).
    Terms depending on x only are summed once per distinct x (``ks`` with total weight ``counts``)."""
    r, alpha, a, b = params = np.exp(theta)
    n = w.sum()
    ll_rows, l_T_rows, d_alpha_rows, sum_q4, q4_b_rows = sum(
        _bgnbd_block(r, alpha, a, b, x[s], tx[s], T[s], w[s]) for s in _blocks(x.size))
    ll = (counts @ (special.gammaln(r + ks) + special.gammaln(b + ks) - special.gammaln(a + b + ks))
          + n * (r * math.log(alpha) - special.gammaln(r) + special.gammaln(a + b) - special.gammaln(b)) + ll_rows)
    psi_abk = counts @ special.digamma(a + b + ks)
    d_r = counts @ special.digamma(r + ks) - n * (special.digamma(r) - math.log(alpha)) - l_T_rows
    d_alpha = n * r / alpha - d_alpha_rows
    d_a = n * special.digamma(a + b) - psi_abk + sum_q4 / a
    d_b = n * (special.digamma(a + b) - special.digamma(b)) + counts @ special.digamma(b + ks) - psi_abk - q4_b_rows
    grad = -np.array([d_r, d_alpha, d_a, d_b]) * params / n + 2.0 * penalizer * params**2
    return -ll / n + penalizer * np.sum(params**2), grad


def _gg_block(p, q, v, x, mx, w):
    """Per-row sums of the Gamma-Gamma log-likelihood and gradient pieces for one block."""
    px = p * x
    l_m = np.log(mx)
    l_mv = np.log(x * mx + v)
    return np.array([w @ (px * l_m - l_m - (px + q) * l_mv), w @ (x * (l_m - l_mv)), w @ l_mv,
                     w @ ((px + q) / (x * mx + v))])


def _gg_nll(theta, x, mx, w, ks, counts, penalizer):
    """Gamma-Gamma -LL/n and its gradient in log-space; [H-025] eq. 1a:
    ln f(m_x|p,q,v,x) = lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln m_x + px ln x
    - (px+q) ln(x m_x + v). Terms depending on x only are summed once per distinct x."""
    p, q, v = params = np.exp(theta)
    n = w.sum()
    ll_rows, d_p_rows, l_mv_rows, d_v_rows = sum(_gg_block(p, q, v, x[s], mx[s], w[s]) for s in _blocks(x.size))
    pk, psi = p * ks, special.digamma(p * ks + q)
    ll = (counts @ (special.gammaln(pk + q) - special.gammaln(pk) + pk * np.log(ks))
          + n * (q * math.log(v) - special.gammaln(q)) + ll_rows)
    d_p = counts @ (ks * (psi - special.digamma(pk) + np.log(ks))) + d_p_rows
    d_q = counts @ psi - l_mv_rows + n * (math.log(v) - special.digamma(q))
    d_v = n * q / v - d_v_rows
    grad = -np.array([d_p, d_q, d_v]) * params / n + 2.0 * penalizer * params**2
    return -ll / n + penalizer * np.sum(params**2), grad


def _minimize(fun, theta0, args) -> tuple[np.ndarray, str, bool]:
    """L-BFGS-B on log-parameters with the analytic gradient; if that fails away from the bounds,
    a capped Nelder-Mead run and an L-BFGS-B polish from its end point. Converged = finite,
    gradient ~ 0 and no parameter beyond exp(+/-_DEGENERATE) (a degenerate optimum)."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(theta0)
    opts = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
    res = optimize.minimize(fun, theta0, args=args, jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
    at_bound = bool(np.any(np.abs(res.x) >= _LOG_BOUND - 1e-6))
    if not (res.success and np.isfinite(res.fun)) and not at_bound:
        start = res.x if np.all(np.isfinite(res.x)) else np.asarray(theta0, float)
        nm = optimize.minimize(lambda t, *a: fun(t, *a)[0], start, args=args, method="Nelder-Mead", bounds=bounds,
                               options={"maxfev": 300 * len(theta0), "xatol": 1e-8, "fatol": 1e-12})
        polish = optimize.minimize(fun, nm.x, args=args, jac=True, method="L-BFGS-B", bounds=bounds, options=opts)
        if not np.isfinite(res.fun) or polish.fun <= res.fun:
            res = polish
    fval, grad = fun(res.x, *args)
    at_bound = bool(np.any(np.abs(res.x) > _DEGENERATE))
    ok = bool(np.isfinite(fval) and np.all(np.isfinite(res.x)) and np.max(np.abs(grad)) < 1e-4 and not at_bound)
    msg = str(res.message)
    if at_bound:
        msg = f"a parameter passed exp(+/-{_DEGENERATE:g}): degenerate maximum-likelihood fit ({msg})"
    elif not ok:
        msg = f"optimiser did not converge (max |gradient| {np.max(np.abs(grad)):.3g}): {msg}"
    return res.x, msg, ok


def _failed(names, n, message) -> FitResult:
    return FitResult(dict.fromkeys(names, math.nan), math.nan, int(n), False, message, "not_fitted")


def _penalised(attempt, n, mle_message) -> FitResult | None:
    """Refit with the PENALIZERS in turn: the first converged fit (kind "penalised"), else None.
    ``attempt(penalizer)`` returns (params, log_likelihood, message, converged)."""
    for penalizer in PENALIZERS:
        params, ll, _, ok = attempt(penalizer)
        if ok:
            return FitResult(params, ll, n, True, f"penalised fit (penalizer {penalizer:g}) after: {mle_message}",
                             "penalised")
    return None


def _nbd_nll(theta, x, T, w, penalizer):
    """No-dropout limit of BG/NBD (a/(a+b) -> 0): -LL/n and gradient in log-space of
    ln L = lnG(r+x) - lnG(r) + r ln(alpha) - (r+x) ln(alpha+T) (the [FHL05] eq. 6 limit)."""
    r, alpha = params = np.exp(theta)
    n = w.sum()
    l_aT = np.log(alpha + T)
    ll = w @ (special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha) - (r + x) * l_aT)
    d_r = w @ (special.digamma(r + x) - special.digamma(r) + math.log(alpha) - l_aT)
    d_alpha = w @ (r / alpha - (r + x) / (alpha + T))
    grad = -np.array([d_r, d_alpha]) * params / n + 2.0 * penalizer * params**2
    return -ll / n + penalizer * np.sum(params**2), grad


def _bgnbd_no_dropout(x, T, n, mle_message) -> FitResult:
    """The limiting case a/(a+b) -> 0 of a degenerate BG/NBD fit: NBD (r, alpha; a = 0, b = inf),
    or Poisson (lambda = sum x / sum T; r = alpha = inf) when the NBD optimum is degenerate too."""
    scale = float(1.0 / T.max())
    (xs, Ts), w, _, _ = _collapse(x, T * scale)
    theta, msg, ok = _minimize(_nbd_nll, np.zeros(2), (xs, Ts, w, 0.0))
    r, alpha = np.exp(theta)
    note = f"limiting case of a degenerate fit ({mle_message})"
    if ok:
        alpha = float(alpha / scale)
        ll = float(w @ (special.gammaln(r + xs) - special.gammaln(r) + r * math.log(alpha)
                        - (r + xs) * np.log(alpha + Ts / scale)))
        return FitResult({"r": float(r), "alpha": alpha, "a": 0.0, "b": math.inf}, ll, n, True,
                         f"no dropout (a/(a+b) -> 0, NBD): probability alive 1; {note}", "limiting")
    lam = float(x.sum() / T.sum())
    ll = float(x.sum() * math.log(lam) - lam * T.sum()) if lam > 0 else 0.0
    return FitResult({"r": math.inf, "alpha": math.inf, "a": 0.0, "b": math.inf, "lambda": lam}, ll, n, True,
                     "no dropout and no purchase-rate heterogeneity (Poisson, lambda = sum x / sum T): "
                     f"probability alive 1; {note}", "limiting")


def _collapse(x, *others):
    """Distinct rows of (x, *others) with their counts as weights, plus the distinct x values
    ``ks`` and their total weights ``counts`` (for the terms that depend on x only)."""
    frame = pl.DataFrame({f"c{i}": v for i, v in enumerate((x, *others))})
    grouped = frame.group_by(frame.columns).len().sort(frame.columns)  # sorted: reproducible sums
    cols = tuple(grouped[c].to_numpy() for c in frame.columns)
    w = grouped["len"].to_numpy().astype(float)
    ks, inverse = np.unique(cols[0], return_inverse=True)
    return cols, w, ks, np.bincount(inverse, weights=w)


def _vec(values) -> np.ndarray:
    values = values.to_numpy() if hasattr(values, "to_numpy") else values
    return np.atleast_1d(np.asarray(values, dtype=float))


def fit_bgnbd(frequency, recency, T, *, penalizer: float = 0.0, min_customers: int = 10,
              min_repeat_customers: int = 10, initial_params: dict | None = None) -> FitResult:
    """Maximum-likelihood BG/NBD fit ([FHL05]); returns r, alpha, a, b in the data's time unit.

    Times are rescaled so max(T) = 1 while optimising (as lifetimes does; ``penalizer`` adds
    ``penalizer * sum(params**2)`` on that scale to the mean negative log-likelihood, i.e. the
    same meaning as lifetimes' ``penalizer_coef``). Identical (x, t_x, T) rows are collapsed
    into weights. Never raises on data problems: see FitResult.
    """
    try:
        x, tx, T = _vec(frequency), _vec(recency), _vec(T)
        if not (x.size == tx.size == T.size):
            return _failed(BGNBD_PARAMS, x.size, "frequency, recency and T differ in length")
    except (TypeError, ValueError) as exc:
        return _failed(BGNBD_PARAMS, 0, f"inputs are not numeric arrays: {exc}")
    n = x.size
    bad = ~(np.isfinite(x) & np.isfinite(tx) & np.isfinite(T))
    if bad.any():
        return _failed(BGNBD_PARAMS, n, f"{int(bad.sum())} customers have missing or non-finite values")
    invalid = ((x < 0) | (x != np.round(x)) | (tx < 0) | (tx > T + 1e-9 * np.maximum(T, 1))
               | ((x == 0) & (tx != 0)))
    if invalid.any():
        return _failed(BGNBD_PARAMS, n, f"{int(invalid.sum())} customers have inconsistent values "
                       "(need integer frequency >= 0, 0 <= recency <= T, recency 0 when frequency 0)")
    if n < min_customers:
        return _failed(BGNBD_PARAMS, n, f"too few customers to fit BG/NBD: {n} < {min_customers}")
    n_rep = int((x > 0).sum())
    if n_rep < min_repeat_customers:
        return _failed(BGNBD_PARAMS, n, f"too few repeat buyers to fit BG/NBD: {n_rep} < {min_repeat_customers}")
    scale = float(1.0 / T.max()) if T.max() > 0 else 1.0
    (xs, txs, Ts), w, ks, counts = _collapse(x, tx * scale, T * scale)
    if initial_params:
        init = dict(initial_params, alpha=initial_params["alpha"] * scale)
        theta0 = np.log([init[k] for k in BGNBD_PARAMS])
    else:
        theta0 = np.full(4, 0.1)

    def attempt(pen):
        theta, msg, ok = _minimize(_bgnbd_nll, theta0, (xs, txs, Ts, w, ks, counts, pen))
        params = dict(zip(BGNBD_PARAMS, np.exp(theta).tolist()))
        params["alpha"] = float(params["alpha"] / scale)
        theta_u = np.log([params[k] for k in BGNBD_PARAMS])
        ll = float(-n * _bgnbd_nll(theta_u, xs, txs / scale, Ts / scale, w, ks, counts, 0.0)[0])
        return params, ll, msg, ok and bool(np.isfinite(ll))

    with np.errstate(all="ignore"):
        params, ll, msg, ok = attempt(penalizer)
        # mean dropout probability per purchase below exp(-14) (converged on the flat ridge towards
        # a -> 0 or b -> inf, or run off along it): the data say nobody drops out
        dropout = params["a"] / (params["a"] + params["b"])
        if ok and dropout >= math.exp(-_DEGENERATE):
            return FitResult(params, ll, n, True, msg, "penalised" if penalizer else "mle")
        if dropout < math.exp(-_DEGENERATE):
            return _bgnbd_no_dropout(x, T, n, msg if not ok else f"mean dropout probability a/(a+b) = {dropout:.3g}")
        fallback = _penalised(attempt, n, msg) if penalizer == 0 else None
    return fallback or FitResult(params, ll, n, False, f"BG/NBD fit failed: {msg}")


def fit_gamma_gamma(frequency, monetary_value, *, penalizer: float = 0.0, min_repeat_customers: int = 10,
                    initial_params: dict | None = None) -> FitResult:
    """Maximum-likelihood Gamma-Gamma fit ([H-025]) on the repeat buyers (frequency > 0);
    returns p, q, v (v is the paper's gamma, in money units). ``monetary_value`` is the mean
    spend per repeat purchase day. Repeat buyers with non-positive mean spend are left out
    (counted in the message). A fit with q <= 1 (infinite population mean spend) is reported as
    not converged. ``penalizer`` as in lifetimes. Never raises on data problems."""
    try:
        x, m = _vec(frequency), _vec(monetary_value)
        if x.size != m.size:
            return _failed(GG_PARAMS, x.size, "frequency and monetary_value differ in length")
    except (TypeError, ValueError) as exc:
        return _failed(GG_PARAMS, 0, f"inputs are not numeric arrays: {exc}")
    bad = ~(np.isfinite(x) & np.isfinite(m))
    if bad.any():
        return _failed(GG_PARAMS, x.size, f"{int(bad.sum())} customers have missing or non-finite values")
    if np.any((x < 0) | (x != np.round(x))):
        return _failed(GG_PARAMS, x.size, "frequency must be a non-negative integer")
    rep = x > 0
    keep = rep & (m > 0)
    dropped = int(rep.sum() - keep.sum())
    x, m = x[keep], m[keep]
    n = x.size
    note = f"; {dropped} repeat buyers with non-positive spend left out" if dropped else ""
    if n < min_repeat_customers:
        return _failed(GG_PARAMS, n, f"too few repeat buyers to fit Gamma-Gamma: {n} < {min_repeat_customers}{note}")
    # spend rescaled to mean 1 while optimising (p, q are scale free, v scales with the money
    # unit), so a degenerate optimum is told apart from a large currency amount
    scale = float(np.mean(m))
    init = dict(initial_params or {"p": 1.0, "q": 2.0, "v": scale})
    theta0 = np.log([init["p"], init["q"], init["v"] / scale])

    def attempt(pen):
        theta, msg, ok = _minimize(_gg_nll, theta0, (xs, ms / scale, w, ks, counts, pen))
        params = dict(zip(GG_PARAMS, np.exp(theta).tolist()))
        params["v"] *= scale
        theta_u = np.log([params[k] for k in GG_PARAMS])
        ll = float(-n * _gg_nll(theta_u, xs, ms, w, ks, counts, 0.0)[0])
        ok = ok and bool(np.isfinite(ll))
        if ok and params["q"] <= 1.0:
            ok, msg = False, f"q = {params['q']:.4g} <= 1: population mean spend is undefined"
        return params, ll, msg, ok

    with np.errstate(all="ignore"):
        (xs, ms), w, ks, counts = _collapse(x, m)
        params, ll, msg, ok = attempt(penalizer)
        if ok:
            return FitResult(params, ll, n, True, msg + note, "penalised" if penalizer else "mle")
        if params["q"] > math.exp(_DEGENERATE) or np.ptp(m) == 0:  # no spend heterogeneity between customers
            mean = float(x @ m / x.sum())
            return FitResult({"p": math.nan, "q": math.inf, "v": math.inf, "mean_spend": mean}, math.nan, n, True,
                             "no spend heterogeneity (q -> inf): every customer gets the population mean spend "
                             f"sum(x m_x) / sum(x); limiting case of a degenerate fit ({msg}){note}", "limiting")
        fallback = _penalised(attempt, n, msg) if penalizer == 0 else None
    return fallback or FitResult(params, ll, n, False, f"Gamma-Gamma fit failed: {msg}{note}")


# --------------------------------------------------------------------------------------------
# Predictions (vectorised; params may be a dict or a FitResult - a failed fit gives NaN)
# --------------------------------------------------------------------------------------------
def _params(params, names) -> tuple[float, ...]:
    if isinstance(params, FitResult):
        if not params.converged:
            return (math.nan,) * len(names)
        params = params.params
    return tuple(float(params[k]) for k in names)


def _limit(params, key: str) -> float | None:
    """The limiting-case constant ``key`` (BG/NBD "lambda", Gamma-Gamma "mean_spend") when set."""
    if isinstance(params, FitResult):
        params = params.params if params.converged else {}
    value = params.get(key)
    return None if value is None else float(value)


def _purchase_rate(params, x, T) -> np.ndarray | None:
    """No-dropout limit (a = 0): the posterior purchase rate (r+x)/(alpha+T) (NBD) or lambda
    (Poisson); None for a proper BG/NBD fit."""
    r, alpha, a, _ = _params(params, BGNBD_PARAMS)
    if a != 0.0:
        return None
    lam = _limit(params, "lambda")
    return np.full(np.shape(x), lam) if lam is not None else (r + x) / (alpha + T)


def conditional_probability_alive(params, frequency, recency, T) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) ([H-021]),
    computed as expit(-log term); 1 for x = 0."""
    r, alpha, a, b = _params(params, BGNBD_PARAMS)
    if a == 0.0:  # no-dropout limit: everybody is alive
        return np.ones(np.broadcast(np.asarray(frequency), np.asarray(recency), np.asarray(T)).shape)

    def block(x, tx, T):
        log_div = (r + x) * np.log((alpha + T) / (alpha + tx)) + np.log(a / (b + np.maximum(x, 1.0) - 1.0))
        return np.where(x == 0, 1.0, special.expit(-log_div)) + 0.0 * r  # NaN params -> NaN

    with np.errstate(all="ignore"):
        return _blockwise(block, frequency, recency, T)


def conditional_expected_number_of_purchases(params, t, frequency, recency, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T], repeat purchases in the next t time units ([FHL05] eq. 10):
    (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
    * P(alive). Where 2F1 overflows, Euler's transformation
    2F1(A,B;C;z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) is used in log space (as lifetimes)."""
    r, alpha, a, b = _params(params, BGNBD_PARAMS)

    def block(t, x, tx, T):
        rate = _purchase_rate(params, x, T)
        if rate is not None:  # no-dropout limit: E[Y(t)] = rate x t
            return rate * t
        A, B, C = r + x, b + x, a + b + x - 1.0
        z = t / (alpha + T + t)
        ln_hyp = np.log(special.hyp2f1(A, B, C, z))
        alt = ~np.isfinite(ln_hyp)
        if alt.any():
            ln_alt = np.log(special.hyp2f1(C - A, C - B, C, z)) + (C - A - B) * np.log1p(-z)
            ln_hyp = np.where(alt, ln_alt, ln_hyp)
        second = 1.0 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + t + T)))
        return C / (a - 1.0) * second * conditional_probability_alive(params, x, tx, T)

    with np.errstate(all="ignore"):
        return _blockwise(block, t, frequency, recency, T)


def conditional_expected_average_profit(gg_params, frequency, monetary_value) -> np.ndarray:
    """E[M | p, q, v, m_x, x] = (q-1)/(px+q-1) * vp/(q-1) + px/(px+q-1) * m_x ([H-025] eq. 5):
    a weighted average of the population mean spend and the customer's own mean m_x."""
    p, q, v = _params(gg_params, GG_PARAMS)
    mean = _limit(gg_params, "mean_spend")

    def block(x, m):
        if mean is not None:  # no-heterogeneity limit: the population mean for everyone
            return np.full(x.shape, mean)
        weight = p * x / (p * x + q - 1.0)
        return (1.0 - weight) * (v * p / (q - 1.0)) + weight * m

    return _blockwise(block, frequency, monetary_value)


def customer_lifetime_value(bg_params, gg_params, frequency, recency, T, monetary_value, horizon_months: int = 12,
                            time_unit: str = "W", margin: float = 1.0,
                            discount_rate_monthly: float = 0.01) -> np.ndarray:
    """Discounted expected value over ``horizon_months`` (lifetimes' ``_customer_lifetime_value``):
    sum_{k=1..H} margin * E[M] * (E[Y(k f)] - E[Y((k-1) f)]) / (1+d)^k, f = time units per month
    (W: 4.345, D: 30, M: 1), E[M] from Gamma-Gamma, E[Y] from BG/NBD."""
    factor = UNITS_PER_MONTH[time_unit]
    value = margin * conditional_expected_average_profit(gg_params, frequency, monetary_value)
    clv = np.zeros_like(value)
    previous = conditional_expected_number_of_purchases(bg_params, 0.0, frequency, recency, T)
    for k in range(1, int(horizon_months) + 1):
        i = k * factor
        current = conditional_expected_number_of_purchases(bg_params, i, frequency, recency, T)
        clv += value * (current - previous) / (1.0 + discount_rate_monthly) ** (i / factor)
        previous = current
    return clv


def predict_customers(summary, bg_fit: FitResult, gg_fit: FitResult | None = None, *, horizon_days: float = 90,
                      horizon_months: int = 12, time_unit: str = "W", margin: float = 1.0,
                      discount_rate_monthly: float = 0.01):
    """Per-customer predictions for a ``summary_from_transactions`` frame (pandas or polars; the
    same kind is returned): customer_id, p_alive, expected_purchases (repeat purchases in the
    next ``horizon_days``), expected_avg_value (Gamma-Gamma mean spend per purchase day) and
    clv (discounted, ``horizon_months``). Columns whose fit is missing or did not converge are
    null (NaN for pandas) - never an exception. The pipeline publishes these through
    ``crm_pulse.clv.outputs.fit_and_predict``."""
    is_polars = isinstance(summary, pl.DataFrame)
    frame = summary if is_polars else pl.from_pandas(summary)
    x, tx, T = (frame[c].cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T"))
    if gg_fit is None or "monetary_value" not in frame.columns:
        gg_fit, m = _failed(GG_PARAMS, 0, "no Gamma-Gamma fit"), np.zeros_like(x)
    else:
        m = frame["monetary_value"].cast(pl.Float64).to_numpy()
    cols = {
        "p_alive": conditional_probability_alive(bg_fit, x, tx, T),
        "expected_purchases": conditional_expected_number_of_purchases(
            bg_fit, horizon_days / DAYS_PER_UNIT[time_unit], x, tx, T),
        "expected_avg_value": conditional_expected_average_profit(gg_fit, x, m),
        "clv": customer_lifetime_value(bg_fit, gg_fit, x, tx, T, m, horizon_months, time_unit, margin,
                                       discount_rate_monthly),
    }
    out = frame.select("customer_id").with_columns(
        pl.Series(k, np.broadcast_to(v, x.shape).astype(float)).fill_nan(None) for k, v in cols.items())
    return out if is_polars else out.to_pandas()
