"""Analytics layer: BG/NBD + Gamma-Gamma fit on completed orders -> raw/_analytics Parquet.

Glue only: the modelling is crm_pulse/clv/outputs.py. The two outputs carry the
keys dagster-dbt gives the dbt source ``analytics`` (dbt_project/models/staging/analytics), so
the graph reads marts/fct_orders -> raw/analytics/clv_* -> the marts that join the predictions.
They are part of the one dbt step (orchestration/assets/transform.py), which runs the fit between
the models before and after it, in one process.
"""

import datetime as dt
import math
from pathlib import Path

import polars as pl
from dagster import (
                     AssetCheckResult,
                     AssetCheckSeverity,
                     AssetCheckSpec,
                     AssetExecutionContext,
                     AssetKey,
                     AssetSpec,
                     MaterializeResult,
                     MetadataValue,
                     )

from crm_pulse.clv.outputs import CLVConfig, CLVOutputs, fit_and_predict
from crm_pulse.config.dbt_vars import business_vars
from crm_pulse.config.settings import Settings
from crm_pulse.warehouse.connection import connect
from data_contracts.files import replacing
from data_contracts.layout import RawLayout

ORDERS_KEY = AssetKey(["marts", "fct_orders"])
PREDICTIONS_KEY = AssetKey(["raw", "analytics", "clv_customer_predictions"])
PARAMS_KEY = AssetKey(["raw", "analytics", "clv_model_params"])
CONVERGED_CHECK = "models_fitted"
ORDERS_SQL = ("SELECT customer_id, order_date, revenue FROM marts.fct_orders "
              "WHERE is_completed AND revenue IS NOT NULL AND order_date <= ?")


def analytics_dir(raw_dir: Path) -> Path:
    """Folder of the model outputs (the dbt source `analytics` reads <raw>/_analytics/<table>.parquet)."""
    return RawLayout(raw_dir).analytics_dir


def read_completed_orders(work_db: Path, as_of: dt.date) -> pl.DataFrame:
    """Completed orders up to ``as_of`` from the dbt working database (connection closed on return)."""
    con = connect(work_db, read_only=True)
    try:
        return pl.from_arrow(con.sql(ORDERS_SQL, params=[as_of]).to_arrow_table())
    finally:
        con.close()


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Replace ``path`` atomically (a failed write leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        frame.write_parquet(tmp)


SPECS = [
    AssetSpec(PREDICTIONS_KEY, deps=[ORDERS_KEY], group_name="analytics", kinds={"scipy", "parquet"}, skippable=True,
              description="Per-customer probability alive, expected purchases (90 / 365 days), expected "
              "average order value and predicted value from BG/NBD + Gamma-Gamma fitted on completed orders "
              "up to the analysis date; `[warehouse]/raw/_analytics/clv_customer_predictions.parquet`."),
    AssetSpec(PARAMS_KEY, deps=[ORDERS_KEY], group_name="analytics", kinds={"scipy", "parquet"}, skippable=True,
              description="Fitted BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, gamma) parameters with "
              "log-likelihood and calibration period; `[warehouse]/raw/_analytics/clv_model_params.parquet`."),
]
CHECK_SPECS = [AssetCheckSpec(CONVERGED_CHECK, asset=PARAMS_KEY,
                              description="Both models were fitted by plain maximum likelihood (WARN: a model "
                              "fell back to its limiting case or a penalised fit, or was not fitted and its "
                              "predictions are null).")]
KEYS = {PREDICTIONS_KEY, PARAMS_KEY}


def materialize_clv(context: AssetExecutionContext, cfg: Settings):
    """Fit BG/NBD and Gamma-Gamma on marts.fct_orders and write the predictions and parameters
    (run inside the dbt step, between the models before and after it: orchestration/assets/transform.py)."""
    config = CLVConfig.from_vars(business_vars(cfg.dbt_vars))
    as_of = cfg.resolved_as_of()
    orders = read_completed_orders(cfg.work_db, as_of)
    out: CLVOutputs = fit_and_predict(orders, as_of, config, dt.datetime.now(dt.timezone.utc))
    for warning in out.warnings:
        context.log.warning(f"CLV: {warning}")
    folder = analytics_dir(cfg.raw_dir)
    write_parquet(out.predictions, folder / "clv_customer_predictions.parquet")
    write_parquet(out.params, folder / "clv_model_params.parquet")

    fits = {"bg_nbd": out.bg_fit, "gamma_gamma": out.gg_fit}
    context.log.info(f"CLV on {orders.height} completed orders up to {as_of}: " + "; ".join(
        f"{name} {f'fitted ({fit.kind})' if fit.converged else 'NOT fitted'} on {fit.n_customers} customers"
        for name, fit in fits.items()))
    yield MaterializeResult(asset_key=PREDICTIONS_KEY, metadata={
        "customers": out.predictions.height,
        "with_predicted_value": int(out.predictions["predicted_value"].is_not_null().sum()),
        "path": MetadataValue.path(str(folder / "clv_customer_predictions.parquet")),
    })
    yield MaterializeResult(asset_key=PARAMS_KEY, metadata={
        **{f"{name}_{k}": v for name, fit in fits.items() if fit.converged for k, v in fit.params.items()
           if math.isfinite(v)},
        **{f"{name}_log_likelihood": fit.log_likelihood for name, fit in fits.items()
           if fit.converged and math.isfinite(fit.log_likelihood)},
        **{f"{name}_fit_kind": fit.kind for name, fit in fits.items()},
        "time_unit": config.time_unit, "calibration_end": as_of.isoformat(),
        "path": MetadataValue.path(str(folder / "clv_model_params.parquet")),
    })
    yield AssetCheckResult(
        check_name=CONVERGED_CHECK, asset_key=PARAMS_KEY, passed=not out.warnings,
        severity=AssetCheckSeverity.WARN,
        metadata={name: MetadataValue.text(fit.message) for name, fit in fits.items()},
    )
