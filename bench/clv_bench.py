"""Timing of crm_pulse/clv/model.py at scale (not a test).

    .venv/bin/python bench/clv_bench.py [--customers 1000000]   # ~9.3M transaction rows

1. summary_from_transactions on a synthetic 2-year log drawn from the model (~10 rows per
   customer), polars and pandas input;
2. fit_bgnbd / fit_gamma_gamma / predict_customers on that summary (day-discretised, the
   pipeline's path);
3. fit_bgnbd on customers drawn from the BG/NBD model with continuous times (no two customers
   alike: the worst case for the duplicate-collapsing), with the recovered parameters.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from crm_pulse.clv import model as clv  # noqa: E402


def timed(label, fn, *args, **kwargs):
    """Run fn, print wall time and this process's CPU time (all threads; on a shared machine the
    CPU time is the steadier figure)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    print(f"{label:<52s} {time.perf_counter() - start:7.2f} s wall {time.process_time() - cpu:7.2f} s CPU", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.customers

    # 1. a transaction log drawn from the BG/NBD + Gamma-Gamma model: first purchase day uniform
    #    over the first year of two, repeat purchases at the first x of N(T) uniform arrival
    #    times, x = min(K, N(T)) (dropout after K repeat purchases); ~10% same-day extra rows
    truth = {"r": 3.0, "alpha": 20.0, "a": 1.0, "b": 10.0}
    first = rng.integers(0, 365, n)
    T_weeks = (730 - first) / 7.0  # observation end 2024-12-31 = day 730
    arrivals = rng.poisson(rng.gamma(truth["r"], 1 / truth["alpha"], n) * T_weeks)
    x = np.minimum(rng.geometric(rng.beta(truth["a"], truth["b"], n)), arrivals)
    owner = np.repeat(np.arange(n), arrivals)
    u = rng.random(owner.size)
    order = np.lexsort((u, owner))
    owner, u = owner[order], u[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(arrivals) - arrivals, arrivals)
    keep = rank < x[owner]
    owner, u = owner[keep], u[keep]
    repeat_day = first[owner] + np.floor(u * T_weeks[owner] * 7).astype(int)
    cust = np.concatenate([np.arange(n), owner])
    days = np.concatenate([first, repeat_day])
    extra = rng.random(cust.size) < 0.1
    cust, days = np.concatenate([cust, cust[extra]]), np.concatenate([days, days[extra]])
    nu = rng.gamma(3.0, 1 / 60.0, n)  # Gamma-Gamma: spend ~ Gamma(p=4, nu), nu ~ Gamma(q=3, gamma=60)
    day0 = np.datetime64("2023-01-01")
    tx = pl.DataFrame({
        "customer": cust,
        "ordered_at": (day0 + days.astype("timedelta64[D]")).astype("datetime64[us]")
        + rng.integers(0, 86_400, cust.size).astype("timedelta64[s]"),
        "amount": np.concatenate([np.round(rng.gamma(4.0, 1 / nu[cust[: cust.size - extra.sum()]]), 2),
                                  np.zeros(extra.sum())]),  # same-day extra lines: free add-ons
    })
    rows = tx.height
    summary = timed(f"summary_from_transactions polars ({rows:,} rows)", clv.summary_from_transactions,
                    tx, "customer", "ordered_at", "amount", dt.date(2024, 12, 31), "W")
    pdf = tx.to_pandas()
    timed(f"summary_from_transactions pandas ({rows:,} rows)", clv.summary_from_transactions,
          pdf, "customer", "ordered_at", "amount", dt.date(2024, 12, 31), "W")
    del pdf
    print(f"  -> {summary.height:,} customers, {int((summary['frequency'] > 0).sum()):,} repeat buyers")

    # 2. fits and predictions on the summary
    bg = timed("fit_bgnbd (summary)", clv.fit_bgnbd, summary["frequency"], summary["recency"], summary["T"])
    print(f"  -> converged={bg.converged} ll={bg.log_likelihood:.1f} "
          f"fitted={ {k: round(v, 4) for k, v in bg.params.items()} } truth={truth}")
    gg = timed("fit_gamma_gamma (summary)", clv.fit_gamma_gamma, summary["frequency"], summary["monetary_value"])
    print(f"  -> converged={gg.converged} n={gg.n_customers:,} fitted={ {k: round(v, 3) for k, v in gg.params.items()} }"
          " truth {'p': 4, 'q': 3, 'v': 60}")
    pred = timed("predict_customers (p_alive, E[Y(90d)], E[M], 12-month CLV)", clv.predict_customers,
                 summary, bg, gg)
    print(f"  -> {pred.height:,} rows, nulls {sum(pred.null_count().row(0))}")

    # 3. model-simulated customers, continuous times
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    lam = rng.gamma(truth["r"], 1 / truth["alpha"], n)
    p = rng.beta(truth["a"], truth["b"], n)
    T = rng.uniform(1.0, 52.0, n)
    arrivals = rng.poisson(lam * T)
    x = np.minimum(rng.geometric(p), arrivals).astype(float)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), arrivals - x + 1), 0.0)
    fit = timed(f"fit_bgnbd ({n:,} simulated, all distinct)", clv.fit_bgnbd, x, t_x, T)
    print(f"  -> converged={fit.converged} truth={truth}")
    print(f"     fitted={ {k: round(v, 4) for k, v in fit.params.items()} }")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.2f} GiB")


if __name__ == "__main__":
    main()
