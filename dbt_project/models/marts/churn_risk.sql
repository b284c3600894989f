-- Churn early warning: one row per customer not churned on the analysis date, with each warning
-- signal and whether it fired. The early-warning list = rows where is_flagged.
with customers as (
    select * from {{ ref('int_customer_base') }}
    where lifecycle_stage <> 'churned'
),

window_bounds as (
    select
        cast({{ dbt.dateadd('day', -1 * var('warning_window_days'), as_of_date()) }} as date) as recent_start,
        cast({{ dbt.dateadd('day', -2 * var('warning_window_days'), as_of_date()) }} as date) as prior_start
),

followups as (
    select
        activities.customer_id,
        sum(case when activities.activity_date > window_bounds.recent_start then 1 else 0 end) as recent_followups,
        sum(case when activities.activity_date <= window_bounds.recent_start then 1 else 0 end) as prior_followups
    from {{ ref('stg_crm__activities') }} as activities
    cross join window_bounds
    where activities.activity_date > window_bounds.prior_start
      and activities.activity_date <= {{ as_of_date() }}
    group by activities.customer_id
),

predictions as (
    select customer_id, probability_alive
    from {{ ref('stg_analytics__clv_customer_predictions') }}
),

measured as (
    select
        customers.customer_id,
        customers.customer_name,
        customers.owner_rep,
        customers.industry,
        customers.region,
        customers.lifecycle_stage,
        customers.completed_orders,
        customers.purchase_days,
        customers.last_order_date,
        customers.days_since_last_order,
        cast(coalesce(followups.recent_followups, 0) as bigint) as recent_followups,
        cast(coalesce(followups.prior_followups, 0) as bigint) as prior_followups,
        predictions.probability_alive,
        case
            when customers.purchase_days >= 2
                then {{ safe_divide(dbt.datediff('customers.first_order_date', 'customers.last_order_date', 'day'), 'customers.purchase_days - 1') }}
        end as usual_purchase_cycle_days
    from customers
    left join followups on customers.customer_id = followups.customer_id
    left join predictions on customers.customer_id = predictions.customer_id
),

signalled as (
    select
        measured.*,
        case
            when prior_followups > 0 then {{ safe_divide('prior_followups - recent_followups', 'prior_followups') }}
        end as followup_drop,
        {{ safe_divide('days_since_last_order', 'usual_purchase_cycle_days') }} as purchase_gap_ratio
    from measured
),

fired as (
    select
        signalled.*,
        coalesce(followup_drop >= {{ var('warning_followup_drop') }}, false) as is_followup_drop,
        coalesce(purchase_gap_ratio > {{ var('warning_cycle_factor') }}, false) as is_purchase_gap,
        coalesce(probability_alive < {{ var('clv_low_probability_alive') }}, false) as is_low_probability_alive
    from signalled
)

select
    customer_id,
    customer_name,
    owner_rep,
    industry,
    region,
    lifecycle_stage,
    completed_orders,
    last_order_date,
    days_since_last_order,
    recent_followups,
    prior_followups,
    followup_drop,
    is_followup_drop,
    usual_purchase_cycle_days,
    purchase_gap_ratio,
    is_purchase_gap,
    probability_alive,
    is_low_probability_alive,
    cast((case when is_followup_drop then 1 else 0 end) + (case when is_purchase_gap then 1 else 0 end)
        + (case when is_low_probability_alive then 1 else 0 end) as bigint) as signal_count,
    is_followup_drop or is_purchase_gap or is_low_probability_alive as is_flagged,
    {{ dbt.concat([
        "case when is_followup_drop then 'followup_drop;' else '' end",
        "case when is_purchase_gap then 'purchase_gap;' else '' end",
        "case when is_low_probability_alive then 'low_probability_alive;' else '' end"
    ]) }} as signals,
    {{ publication_columns() }}
from fired
