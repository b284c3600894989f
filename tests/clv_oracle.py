"""Test-only oracle for tests/test_clv.py, run with the `.venv-oracle` interpreter (archived
`lifetimes` 0.11.3 on numpy 1.26 / pandas 2.2, see tests/oracle-requirements.txt).

Reads a JSON request on stdin, answers JSON on stdout. Shares no code with crm-pulse:
* its own RFM summary of the CDNOW sample shipped in the lifetimes wheel (calibration
  1997-01-01..1997-09-30, freq="D", freq_multiplier=7) and the sha256 of that file;
* its own BG/NBD and Gamma-Gamma fits on that summary;
* the log-likelihoods and per-customer predictions at the parameters given in the request,
  for the (frequency, recency, T, monetary_value) arrays given in the request and, when
  ``evaluate_own_summary`` is true, for its own summary (set "own_summary");
* when ``penalised_bg`` is given (frequency, recency, T, penalizer), a BetaGeoFitter fit with that
  ``penalizer_coef`` on those arrays (answer "penalised_bg": its parameters).
"""

import hashlib
import json
import os
import sys
import warnings

warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import lifetimes  # noqa: E402
from lifetimes import BetaGeoFitter, GammaGammaFitter  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402


def floats(a):
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=float)]


def evaluate(bgf, ggf, arrays, ts):
    x, t_x, T, m = (pd.Series(arrays[k], dtype=float) for k in ("frequency", "recency", "T", "monetary_value"))
    pos = (x > 0) & (m > 0)
    return {
        "bg_ll": -len(x) * float(BetaGeoFitter._negative_log_likelihood(
            np.log(bgf.params_.values), x.values, t_x.values, T.values, np.ones(len(x)), 0.0)),
        "gg_ll": -int(pos.sum()) * float(GammaGammaFitter._negative_log_likelihood(
            np.log(ggf.params_.values), x[pos].values, m[pos].values, np.ones(int(pos.sum())), 0.0)),
        "p_alive": floats(bgf.conditional_probability_alive(x.values, t_x.values, T.values)),
        "expected_purchases": [
            floats(bgf.conditional_expected_number_of_purchases_up_to_time(t, x.values, t_x.values, T.values))
            for t in ts],
        "expected_avg_profit": floats(ggf.conditional_expected_average_profit(x, m)),
        "clv": floats(ggf.customer_lifetime_value(bgf, x, t_x, T, m, time=12, discount_rate=0.01, freq="W")),
    }


def main():
    req = json.load(sys.stdin)
    path = os.path.join(os.path.dirname(lifetimes.__file__), "datasets", "CDNOW_sample.txt")
    raw = open(path, "rb").read()
    tx = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "sample", "date", "cds", "dollars"],
                     dtype={"date": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    cal = tx[tx["date"] <= "1997-09-30"]
    summ = summary_data_from_transaction_data(cal, "id", "date", "dollars", observation_period_end="1997-09-30",
                                              freq="D", freq_multiplier=7).sort_index()
    bgf = BetaGeoFitter().fit(summ["frequency"], summ["recency"], summ["T"])
    rep = summ[summ["frequency"] > 0]
    ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    n = len(summ)
    own = {
        "bg": {k: float(v) for k, v in bgf.params_.items()},
        # total log-likelihood in the data's units (lifetimes optimises a rescaled mean)
        "bg_ll": -n * float(BetaGeoFitter._negative_log_likelihood(
            np.log(bgf.params_.values), summ["frequency"].values, summ["recency"].values, summ["T"].values,
            np.ones(n), 0.0)),
        "gg": {k: float(v) for k, v in ggf.params_.items()},
    }

    # evaluation at the requested parameters, for each requested set of customers
    bgf.params_ = pd.Series(req["bg"])[["r", "alpha", "a", "b"]].astype(float)
    ggf.params_ = pd.Series(req["gg"])[["p", "q", "v"]].astype(float)
    out = {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "summary": {"customer_id": [int(i) for i in summ.index], **{c: floats(summ[c]) for c in summ.columns}},
        "own_fit": own,
        "sets": {name: evaluate(bgf, ggf, arrays, req["t"]) for name, arrays in req["sets"].items()},
    }
    if req.get("penalised_bg"):
        pb = req["penalised_bg"]
        fit = BetaGeoFitter(penalizer_coef=pb["penalizer"]).fit(
            *(pd.Series(pb[k], dtype=float) for k in ("frequency", "recency", "T")))
        out["penalised_bg"] = {k: float(v) for k, v in fit.params_.items()}
    if req.get("evaluate_own_summary"):  # predictions for the oracle's own CDNOW summary
        out["sets"]["own_summary"] = evaluate(
            bgf, ggf, {c: summ[c].values for c in ("frequency", "recency", "T", "monetary_value")}, req["t"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
