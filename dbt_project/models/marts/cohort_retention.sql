-- Monthly acquisition cohorts (month of the first completed order) x months since that month,
-- dense: every cohort has a row for every month from its first month to the analysis month, zero
-- activity included.
with orders as (
    select customer_id, order_month, revenue from {{ ref('int_orders_enriched') }}
),

first_orders as (
    select customer_id, min(order_month) as cohort_month
    from orders
    group by customer_id
),

cohorts as (
    select cohort_month, count(*) as cohort_size
    from first_orders
    group by cohort_month
),

months as (
    select month_start from {{ ref('int_month_spine') }}
),

grid as (
    select
        cohorts.cohort_month,
        cohorts.cohort_size,
        months.month_start as activity_month,
        {{ dbt.datediff('cohorts.cohort_month', 'months.month_start', 'month') }} as months_since_first_order
    from cohorts
    inner join months on months.month_start >= cohorts.cohort_month
),

activity as (
    select
        first_orders.cohort_month,
        orders.order_month as activity_month,
        count(distinct orders.customer_id) as active_customers,
        sum(orders.revenue) as revenue
    from orders
    inner join first_orders on orders.customer_id = first_orders.customer_id
    group by first_orders.cohort_month, orders.order_month
)

select
    grid.cohort_month,
    grid.months_since_first_order,
    grid.activity_month,
    cast(grid.cohort_size as bigint) as cohort_size,
    cast(coalesce(activity.active_customers, 0) as bigint) as active_customers,
    {{ safe_divide('coalesce(activity.active_customers, 0)', 'grid.cohort_size') }} as retention_rate,
    coalesce(activity.revenue, cast(0 as decimal(18, 2))) as revenue,
    {{ publication_columns() }}
from grid
left join activity
    on grid.cohort_month = activity.cohort_month
    and grid.activity_month = activity.activity_month
