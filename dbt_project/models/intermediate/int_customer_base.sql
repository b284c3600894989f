-- Customers that existed on the analysis date (latest CRM version) with their completed-order
-- history, tenure, lifecycle stage and churn date. The shared base of dim_customers,
-- customer_value, churn_summary, churn_risk and kpi_monthly.
with customers as (
    select * from {{ ref('stg_crm__customers') }}
    where coalesce(first_deal_date, cast(created_at as date)) is null
       or coalesce(first_deal_date, cast(created_at as date)) <= {{ as_of_date() }}
),

history as (
    select * from {{ ref('int_customers_ordered') }}
),

lost_marks as (
    select customer_id, lost_marked_date from {{ ref('int_customer_lost_marks') }}
),

joined as (
    select
        customers.customer_id,
        customers.customer_name,
        customers.industry,
        customers.region,
        customers.city,
        customers.company_size,
        customers.owner_rep,
        customers.is_industry_missing,
        customers.is_owner_missing,
        customers.first_deal_date,
        customers.created_at,
        customers.crm_status,
        customers.lost_reason,
        customers.phone_masked,
        customers.phone_hash,
        customers.email_masked,
        customers.email_hash,
        coalesce(history.completed_orders, 0) as completed_orders,
        coalesce(history.lifetime_revenue, cast(0 as decimal(18, 2))) as lifetime_revenue,
        coalesce(history.purchase_days, 0) as purchase_days,
        history.first_order_date,
        history.last_order_date,
        coalesce(customers.first_deal_date, cast(customers.created_at as date), history.first_order_date) as customer_since,
        coalesce(history.last_order_date, customers.first_deal_date, cast(customers.created_at as date)) as inactivity_anchor_date,
        {{ dbt.datediff('history.last_order_date', as_of_date(), 'day') }} as days_since_last_order,
        {{ dbt.datediff('coalesce(history.first_order_date, customers.first_deal_date, cast(customers.created_at as date))', as_of_date(), 'day') }} as days_since_start,
        {{ dbt.datediff('coalesce(customers.first_deal_date, history.first_order_date)', as_of_date(), 'day') }} as tenure_days,
        lost_marks.lost_marked_date
    from customers
    left join history on customers.customer_id = history.customer_id
    left join lost_marks on customers.customer_id = lost_marks.customer_id
),

staged as (
    select
        joined.*,
        case
            when crm_status = 'lost' then 'churned'
            when coalesce(days_since_last_order, days_since_start) > {{ var('churn_days') }} then 'churned'
            when days_since_start <= {{ var('new_customer_days') }} then 'new'
            when coalesce(days_since_last_order, days_since_start) > {{ var('at_risk_days') }} then 'at_risk'
            else 'active'
        end as lifecycle_stage,
        cast({{ dbt.dateadd('day', var('churn_days') + 1, 'inactivity_anchor_date') }} as date) as inactivity_churn_date
    from joined
)

select
    staged.*,
    case
        when lifecycle_stage <> 'churned' then null
        when crm_status = 'lost' and lost_marked_date is not null
            and (inactivity_churn_date is null or inactivity_churn_date > {{ as_of_date() }} or lost_marked_date < inactivity_churn_date)
            then lost_marked_date
        when inactivity_churn_date <= {{ as_of_date() }} then inactivity_churn_date
        else lost_marked_date
    end as churn_date,
    case
        when lifecycle_stage <> 'churned' then null
        when crm_status = 'lost' then coalesce(lost_reason, {{ sql_literal(var("unknown_label")) }})
        else 'no_order_{{ var("churn_days") }}d'
    end as churn_reason
from staged
