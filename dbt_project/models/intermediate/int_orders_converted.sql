-- Orders in the reporting currency, with revenue and anomaly flags. Only orders up to the
-- analysis date (var as_of, inclusive) are kept, so a past as_of reproduces a past report.
with orders as (
    select * from {{ ref('stg_erp__orders') }}
    where order_date <= {{ as_of_date() }}
),

rates as (
    select currency, rate_to_reporting from {{ ref('fx_rates') }}
),

converted as (
    select
        orders.*,
        rates.rate_to_reporting as fx_rate,
        cast(round(orders.amount * rates.rate_to_reporting, 2) as decimal(18, 2)) as amount_reporting,
        orders.order_status = 'completed' as is_completed
    from orders
    left join rates on orders.currency = rates.currency
),

typical as (
    select {{ median('amount_reporting') }} as median_completed_amount
    from converted
    where is_completed
)

select
    converted.*,
    case when converted.is_completed then converted.amount_reporting else cast(0 as decimal(18, 2)) end as revenue,
    coalesce(converted.amount_reporting > typical.median_completed_amount * {{ var('order_outlier_factor') }}, false)
        as is_amount_outlier
from converted
cross join typical
