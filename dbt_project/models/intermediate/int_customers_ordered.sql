-- Per customer: completed-order history up to the analysis date.
select
    customer_id,
    count(*) as completed_orders,
    sum(revenue) as lifetime_revenue,
    min(order_date) as first_order_date,
    max(order_date) as last_order_date,
    count(distinct order_date) as purchase_days
from {{ ref('int_orders_converted') }}
where is_completed
group by customer_id
