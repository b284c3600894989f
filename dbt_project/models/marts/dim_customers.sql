-- Customer portrait: one row per CRM customer that existed on the analysis date.
with customers as (
    select * from {{ ref('stg_crm__customers') }}
    where coalesce(first_deal_date, cast(created_at as date)) is null
       or coalesce(first_deal_date, cast(created_at as date)) <= {{ as_of_date() }}
),

history as (
    select * from {{ ref('int_customers_ordered') }}
),

rfm as (
    select customer_id, rfm_segment, rfm_code, value_tier from {{ ref('customer_rfm') }}
),

joined as (
    select
        customers.*,
        history.completed_orders,
        history.lifetime_revenue,
        history.first_order_date,
        history.last_order_date,
        {{ dbt.datediff('history.last_order_date', as_of_date(), 'day') }} as days_since_last_order,
        {{ dbt.datediff('coalesce(history.first_order_date, customers.first_deal_date, cast(customers.created_at as date))', as_of_date(), 'day') }} as days_since_start,
        {{ dbt.datediff('coalesce(customers.first_deal_date, history.first_order_date)', as_of_date(), 'day') }} as tenure_days,
        rfm.rfm_segment,
        rfm.rfm_code,
        rfm.value_tier
    from customers
    left join history on customers.customer_id = history.customer_id
    left join rfm on customers.customer_id = rfm.customer_id
)

select
    customer_id,
    customer_name,
    industry,
    region,
    city,
    company_size,
    owner_rep,
    is_industry_missing,
    is_owner_missing,
    first_deal_date,
    created_at,
    crm_status,
    lost_reason,
    phone_masked,
    phone_hash,
    email_masked,
    email_hash,
    coalesce(completed_orders, 0) as completed_orders,
    coalesce(lifetime_revenue, cast(0 as decimal(18, 2))) as lifetime_revenue,
    first_order_date,
    last_order_date,
    days_since_last_order,
    tenure_days,
    case
        when crm_status = 'lost' then 'churned'
        when coalesce(days_since_last_order, days_since_start) > {{ var('churn_days') }} then 'churned'
        when days_since_start <= {{ var('new_customer_days') }} then 'new'
        when coalesce(days_since_last_order, days_since_start) > {{ var('at_risk_days') }} then 'at_risk'
        else 'active'
    end as lifecycle_stage,
    coalesce(rfm_segment, 'No recent orders') as rfm_segment,
    rfm_code,
    coalesce(value_tier, 'none') as value_tier,
    {{ publication_columns() }}
from joined
