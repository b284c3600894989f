-- One row per order (every status) up to the analysis date, in the reporting currency.
with orders as (
    select * from {{ ref('int_orders_converted') }}
),

customers as (
    select customer_id, first_deal_date, created_at from {{ ref('stg_crm__customers') }}
)

select
    orders.order_id,
    orders.customer_id,
    orders.ordered_at,
    orders.order_date,
    {{ dbt.date_trunc('month', 'orders.order_date') }} as order_month,
    orders.order_status,
    orders.is_completed,
    orders.currency,
    orders.amount as amount_original,
    orders.fx_rate,
    orders.amount_reporting,
    orders.revenue,
    orders.sales_rep,
    orders.is_amount_outlier,
    customers.customer_id is not null as is_customer_known,
    coalesce(orders.order_date < coalesce(customers.first_deal_date, cast(customers.created_at as date)), false)
        as is_before_customer_existed,
    orders._source_file as source_file,
    {{ publication_columns() }}
from orders
left join customers on orders.customer_id = customers.customer_id
