-- Customer value score (seed 001): w1 x normalised recent revenue + w2 x normalised tenure, with
-- min-max normalisation over all customers, plus historical revenue.
with base as (
    select customer_id, tenure_days, lifetime_revenue, completed_orders
    from {{ ref('int_customer_base') }}
),

recent as (
    select customer_id, sum(revenue) as recent_revenue
    from {{ ref('int_orders_converted') }}
    where is_completed
      and order_date > cast({{ dbt.dateadd('month', -1 * var('value_revenue_months'), as_of_date()) }} as date)
    group by customer_id
),

predictions as (
    select customer_id, probability_alive, expected_purchases_90d, expected_purchases_365d,
        expected_avg_order_value, predicted_value
    from {{ ref('stg_analytics__clv_customer_predictions') }}
),

measured as (
    select
        base.customer_id,
        base.lifetime_revenue,
        base.completed_orders,
        coalesce(recent.recent_revenue, cast(0 as decimal(18, 2))) as recent_revenue,
        base.tenure_days,
        predictions.probability_alive,
        predictions.expected_purchases_90d,
        predictions.expected_purchases_365d,
        predictions.expected_avg_order_value,
        predictions.predicted_value
    from base
    left join recent on base.customer_id = recent.customer_id
    left join predictions on base.customer_id = predictions.customer_id
),

ranges as (
    select
        min(recent_revenue) as min_revenue,
        max(recent_revenue) as max_revenue,
        min(tenure_days) as min_tenure,
        max(tenure_days) as max_tenure
    from measured
),

normalised as (
    select
        measured.*,
        {{ safe_divide('measured.recent_revenue - ranges.min_revenue', 'ranges.max_revenue - ranges.min_revenue') }} as recent_revenue_norm,
        {{ safe_divide('measured.tenure_days - ranges.min_tenure', 'ranges.max_tenure - ranges.min_tenure') }} as tenure_norm
    from measured
    cross join ranges
),

scored as (
    select
        normalised.*,
        {{ var('value_weight_revenue') }} * recent_revenue_norm
            + {{ var('value_weight_tenure') }} * tenure_norm as value_score
    from normalised
)

select
    customer_id,
    recent_revenue,
    tenure_days,
    recent_revenue_norm,
    tenure_norm,
    value_score,
    case
        when value_score is null then null
        else ntile(5) over (
            partition by case when value_score is null then 1 else 0 end
            order by value_score, customer_id
        )
    end as value_quintile,
    lifetime_revenue as historical_revenue,
    completed_orders,
    probability_alive,
    expected_purchases_90d,
    expected_purchases_365d,
    expected_avg_order_value,
    predicted_value,
    {{ publication_columns() }}
from scored
