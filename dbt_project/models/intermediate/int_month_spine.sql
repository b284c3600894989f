-- One row per calendar month from the first month with a completed order, ticket or follow-up up
-- to the month of the analysis date, with no gaps (months without activity included).
with digits as (
    {% for d in range(10) %}select {{ d }} as d{% if not loop.last %} union all {% endif %}{% endfor %}
),

numbers as (
    select ones.d + 10 * tens.d + 100 * hundreds.d as n
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
),

activity as (
    select order_date as activity_date from {{ ref('int_orders_converted') }} where is_completed
    union all
    select created_date from {{ ref('stg_ticketing__tickets') }} where created_date <= {{ as_of_date() }}
    union all
    select activity_date from {{ ref('stg_crm__activities') }} where activity_date <= {{ as_of_date() }}
),

bounds as (
    select
        cast({{ dbt.date_trunc('month', 'min(activity_date)') }} as date) as first_month,
        cast({{ dbt.date_trunc('month', as_of_date()) }} as date) as last_month
    from activity
),

months as (
    select cast({{ dbt.dateadd('month', 'numbers.n', 'bounds.first_month') }} as date) as month_start, bounds.last_month
    from numbers
    cross join bounds
)

select
    month_start,
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month_start')) }} as date) as month_end
from months
where month_start <= last_month
