-- Fitted parameters of the analytics/clv_models asset, one row per model parameter, typed.
select
    cast(model as {{ dbt.type_string() }}) as model,
    cast(parameter as {{ dbt.type_string() }}) as parameter,
    cast(value as double) as value,
    cast(log_likelihood as double) as log_likelihood,
    cast(customers as {{ dbt.type_int() }}) as customers,
    cast(converged as boolean) as is_converged,
    cast(fit_kind as {{ dbt.type_string() }}) as fit_kind,
    cast(message as {{ dbt.type_string() }}) as fit_message,
    cast(calibration_start as date) as calibration_start,
    cast(calibration_end as date) as calibration_end,
    cast(time_unit as {{ dbt.type_string() }}) as time_unit,
    cast(horizon_months as {{ dbt.type_int() }}) as horizon_months,
    cast(margin as double) as margin,
    cast(monthly_discount_rate as double) as monthly_discount_rate,
    cast(fitted_at as {{ dbt.type_timestamp() }}) as fitted_at
from {{ source('analytics', 'clv_model_params') }}
