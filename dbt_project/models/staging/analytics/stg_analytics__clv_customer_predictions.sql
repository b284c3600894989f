-- Per-customer BG/NBD + Gamma-Gamma predictions of the analytics/clv_models asset, typed.
select
    cast(customer_id as {{ dbt.type_string() }}) as customer_id,
    cast(first_purchase_date as date) as first_purchase_date,
    cast(frequency as {{ dbt.type_int() }}) as repeat_purchase_days,
    cast(recency as double) as recency,
    cast(age as double) as age,
    cast(monetary_value as double) as avg_repeat_purchase_value,
    cast(probability_alive as double) as probability_alive,
    cast(expected_purchases_90d as double) as expected_purchases_90d,
    cast(expected_purchases_365d as double) as expected_purchases_365d,
    cast(expected_avg_order_value as double) as expected_avg_order_value,
    cast(predicted_value as double) as predicted_value
from {{ source('analytics', 'clv_customer_predictions') }}
