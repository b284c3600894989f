-- Fitted parameters of the predicted-customer-value models (BG/NBD, Gamma-Gamma), one row per
-- model parameter; the per-customer predictions are columns of customer_value.
select
    model,
    parameter,
    value,
    log_likelihood,
    customers,
    is_converged,
    fit_kind,
    fit_message,
    calibration_start,
    calibration_end,
    time_unit,
    horizon_months,
    margin,
    monthly_discount_rate,
    fitted_at,
    {{ publication_columns() }}
from {{ ref('stg_analytics__clv_model_params') }}
