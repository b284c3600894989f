-- Completed orders up to the analysis date with the buying customer's region and industry (latest
-- CRM version; unknown customers and missing values = var unknown_label), the period keys
-- (month / quarter / year of order_date, the business-time-zone date) and a first-order flag.
with orders as (
    select * from {{ ref('int_orders_converted') }}
    where is_completed
),

customers as (
    select customer_id, region, industry, company_size from {{ ref('stg_crm__customers') }}
)

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    orders.order_date,
    cast({{ dbt.date_trunc('month', 'orders.order_date') }} as date) as order_month,
    cast({{ dbt.date_trunc('quarter', 'orders.order_date') }} as date) as order_quarter,
    cast({{ dbt.date_trunc('year', 'orders.order_date') }} as date) as order_year,
    orders.sales_rep,
    coalesce(customers.region, {{ sql_literal(var("unknown_label")) }}) as region,
    coalesce(customers.industry, {{ sql_literal(var("unknown_label")) }}) as industry,
    coalesce(customers.company_size, 'unknown') as company_size,
    orders.revenue,
    row_number() over (
        partition by orders.customer_id order by orders.ordered_at, orders.order_id
    ) = 1 as is_first_order
from orders
left join customers on orders.customer_id = customers.customer_id
