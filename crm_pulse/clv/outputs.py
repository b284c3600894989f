"""Completed orders -> the published CLV tables (per-customer predictions, model parameters).

The business logic of the ``analytics/clv_models`` asset, free of Dagster: build the RFM summary
of completed orders up to the analysis date, fit BG/NBD and Gamma-Gamma (crm_pulse/clv/
model.py), predict per customer. Data problems never raise: a fit that fails (empty history, too
few repeat buyers, no convergence of the fit and of its penalised fallback) yields a warning and
null predictions; a degenerate optimum falls back to the model's limiting case or a penalised fit
(``fit_kind``), with a warning, and predictions are published.
Configuration errors (an unknown time unit, a negative margin) do raise ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import polars as pl

from crm_pulse.clv import model as clv

#: dbt vars (dbt_project/dbt_project.yml) that configure the models -> the CLVConfig field each sets.
VAR_FIELDS = {
    "clv_time_unit": "time_unit",
    "clv_margin": "margin",
    "clv_monthly_discount_rate": "monthly_discount_rate",
    "clv_horizon_months": "horizon_months",
    "clv_min_repeat_buyers": "min_repeat_buyers",
}
_UNITS = {"week": "W", "weeks": "W", "w": "W", "day": "D", "days": "D", "d": "D"}
UNIT_NAMES = {"W": "week", "D": "day"}
#: published parameter names per model (Gamma-Gamma's v is the paper's gamma).
PARAM_NAMES = {"bg_nbd": dict(zip(clv.BGNBD_PARAMS, clv.BGNBD_PARAMS)),
               "gamma_gamma": {"p": "p", "q": "q", "v": "gamma"}}
#: extra parameters of the limiting cases (clv.py module docstring), published when present.
LIMIT_NAMES = {"bg_nbd": {"lambda": "purchase_rate"}, "gamma_gamma": {"mean_spend": "population_mean_spend"}}

PREDICTION_SCHEMA = {
    "customer_id": pl.String,
    "first_purchase_date": pl.Date,
    "frequency": pl.Int64,
    "recency": pl.Float64,
    "age": pl.Float64,
    "monetary_value": pl.Float64,
    "probability_alive": pl.Float64,
    "expected_purchases_90d": pl.Float64,
    "expected_purchases_365d": pl.Float64,
    "expected_avg_order_value": pl.Float64,
    "predicted_value": pl.Float64,
}
PARAMS_SCHEMA = {
    "model": pl.String,
    "parameter": pl.String,
    "value": pl.Float64,
    "log_likelihood": pl.Float64,
    "customers": pl.Int64,
    "converged": pl.Boolean,
    "fit_kind": pl.String,
    "message": pl.String,
    "calibration_start": pl.Date,
    "calibration_end": pl.Date,
    "time_unit": pl.String,
    "horizon_months": pl.Int64,
    "margin": pl.Float64,
    "monthly_discount_rate": pl.Float64,
    "fitted_at": pl.Datetime("us"),
}


@dataclasses.dataclass(frozen=True)
class CLVConfig:
    """Model configuration (dbt vars ``clv_*``; see README "Predicted customer value"). The defaults
    are dbt_project.yml's (tests/test_clv_pipeline.py keeps them equal)."""

    time_unit: str = "W"  # "W" weeks or "D" days: unit of recency, T and the fitted alpha
    margin: float = 1.0  # share of revenue counted as value (1.0 = predicted revenue)
    monthly_discount_rate: float = 0.01
    horizon_months: int = 12
    min_repeat_buyers: int = 10

    @classmethod
    def from_vars(cls, variables: dict) -> "CLVConfig":
        """Validated config from dbt vars (``crm_pulse.config.dbt_vars.business_vars``; a missing var
        keeps its field's default)."""
        v = {var: variables.get(var, getattr(cls, name)) for var, name in VAR_FIELDS.items()}
        unit = _UNITS.get(str(v["clv_time_unit"]).strip().lower())
        if unit is None:
            raise ValueError(f"dbt var clv_time_unit must be 'week' or 'day', got {v['clv_time_unit']!r}")
        try:
            margin, rate = float(v["clv_margin"]), float(v["clv_monthly_discount_rate"])
            horizon, min_rep = int(v["clv_horizon_months"]), int(v["clv_min_repeat_buyers"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"dbt vars clv_margin, clv_monthly_discount_rate, clv_horizon_months and "
                             f"clv_min_repeat_buyers must be numbers: {exc}") from None
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"dbt var clv_margin must be a number >= 0, got {margin!r}")
        if not (math.isfinite(rate) and rate > -1):
            raise ValueError(f"dbt var clv_monthly_discount_rate must be > -1, got {rate!r}")
        if horizon < 1:
            raise ValueError(f"dbt var clv_horizon_months must be >= 1, got {horizon!r}")
        if min_rep < 1:
            raise ValueError(f"dbt var clv_min_repeat_buyers must be >= 1, got {min_rep!r}")
        return cls(unit, margin, rate, horizon, min_rep)


@dataclasses.dataclass(frozen=True)
class CLVOutputs:
    predictions: pl.DataFrame  # PREDICTION_SCHEMA, one row per customer with a completed order
    params: pl.DataFrame  # PARAMS_SCHEMA, one row per model parameter
    bg_fit: clv.FitResult
    gg_fit: clv.FitResult
    warnings: list[str]


def fit_and_predict(orders: pl.DataFrame, as_of: dt.date, config: CLVConfig,
                    fitted_at: dt.datetime) -> CLVOutputs:
    """Fit both models on ``orders`` and predict per customer.

    ``orders``: completed orders, columns customer_id, order_date (date or timestamp) and revenue
    (reporting currency). Orders after ``as_of`` are ignored. One purchase = one customer-day
    (orders of the same day are summed); repeat purchases = purchase days after the first. The
    calibration period runs from the first order day in the data to ``as_of``.
    """
    orders = orders.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("order_date").cast(pl.Date),
        pl.col("revenue").cast(pl.Float64),
    ).filter(pl.col("order_date") <= as_of)
    calibration_start = orders["order_date"].min() if orders.height else None
    summary = clv.summary_from_transactions(orders, "customer_id", "order_date", "revenue",
                                            observation_end=as_of, time_unit=config.time_unit)
    firsts = orders.group_by("customer_id").agg(pl.col("order_date").min().alias("first_purchase_date"))
    summary = summary.join(firsts, on="customer_id", how="left").with_columns(pl.col("T").alias("age"))

    bg = clv.fit_bgnbd(summary["frequency"], summary["recency"], summary["T"],
                       min_customers=config.min_repeat_buyers, min_repeat_customers=config.min_repeat_buyers)
    gg = clv.fit_gamma_gamma(summary["frequency"], summary["monetary_value"],
                             min_repeat_customers=config.min_repeat_buyers)
    warnings = [f"{name} {fit.kind} fit: {fit.message}"
                for name, fit in (("BG/NBD", bg), ("Gamma-Gamma", gg)) if fit.converged and fit.kind != "mle"]
    if not bg.converged:
        warnings.append(f"BG/NBD not fitted ({bg.message}): probability_alive, expected purchases and "
                        "predicted_value are null")
    if not gg.converged:
        warnings.append(f"Gamma-Gamma not fitted ({gg.message}): expected_avg_order_value and "
                        "predicted_value are null")

    predicted = clv.predict_customers(summary, bg, gg, horizon_days=90, horizon_months=config.horizon_months,
                                      time_unit=config.time_unit, margin=config.margin,
                                      discount_rate_monthly=config.monthly_discount_rate)
    x, tx, T = (summary[c].cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T"))
    e365 = clv.conditional_expected_number_of_purchases(bg, 365.0 / clv.DAYS_PER_UNIT[config.time_unit], x, tx, T)
    columns = {
        "probability_alive": predicted["p_alive"],
        "expected_purchases_90d": predicted["expected_purchases"],
        "expected_purchases_365d": pl.Series(np.broadcast_to(e365, x.shape).astype(float)).fill_nan(None),
        "expected_avg_order_value": predicted["expected_avg_value"],
        "predicted_value": predicted["clv"],
    }
    predictions = summary.with_columns(values.alias(name) for name, values in columns.items())
    predictions = predictions.select([pl.col(c).cast(t) for c, t in PREDICTION_SCHEMA.items()])
    # non-finite predictions from a converged fit (should not happen) are nulls, never inf
    predictions = predictions.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).alias(c) for c in columns)

    rows = []
    for model, fit in (("bg_nbd", bg), ("gamma_gamma", gg)):
        names = {**PARAM_NAMES[model], **{k: v for k, v in LIMIT_NAMES[model].items() if k in fit.params}}
        for name, published in names.items():
            value = fit.params.get(name, math.nan)
            rows.append({
                "model": model, "parameter": published,
                # null: not fitted, or a parameter at its limit (inf) / not identified there (limiting case)
                "value": float(value) if fit.converged and math.isfinite(value) else None,
                "log_likelihood": fit.log_likelihood if fit.converged and math.isfinite(fit.log_likelihood) else None,
                "customers": fit.n_customers, "converged": fit.converged, "fit_kind": fit.kind,
                "message": fit.message,
                "calibration_start": calibration_start, "calibration_end": as_of,
                "time_unit": UNIT_NAMES[config.time_unit], "horizon_months": config.horizon_months,
                "margin": config.margin, "monthly_discount_rate": config.monthly_discount_rate,
                "fitted_at": fitted_at.replace(tzinfo=None),
            })
    params = pl.DataFrame(rows, schema=PARAMS_SCHEMA)
    return CLVOutputs(predictions, params, bg, gg, warnings)
