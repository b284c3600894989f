-- Customer portrait: one row per CRM customer that existed on the analysis date.
with base as (
    select * from {{ ref('int_customer_base') }}
),

rfm as (
    select customer_id, rfm_segment, rfm_code, value_tier from {{ ref('customer_rfm') }}
),

value_scores as (
    select customer_id, value_score, value_quintile from {{ ref('customer_value') }}
),

tickets as (
    select
        customer_id,
        count(*) as ticket_count,
        sum(case when is_complaint then 1 else 0 end) as complaint_count
    from {{ ref('stg_ticketing__tickets') }}
    where created_date <= {{ as_of_date() }}
    group by customer_id
),

surveys as (
    select customer_id, avg(cast(csat as double)) as csat_avg, count(csat) as csat_responses
    from {{ ref('stg_ticketing__satisfaction_responses') }}
    where responded_date <= {{ as_of_date() }}
    group by customer_id
)

select
    base.customer_id,
    base.customer_name,
    base.industry,
    base.region,
    base.city,
    base.company_size,
    base.owner_rep,
    base.is_industry_missing,
    base.is_owner_missing,
    base.first_deal_date,
    base.created_at,
    base.crm_status,
    base.lost_reason,
    base.phone_masked,
    base.phone_hash,
    base.email_masked,
    base.email_hash,
    base.completed_orders,
    base.lifetime_revenue,
    base.first_order_date,
    base.last_order_date,
    base.days_since_last_order,
    base.tenure_days,
    base.lifecycle_stage,
    base.churn_date,
    coalesce(rfm.rfm_segment, 'No recent orders') as rfm_segment,
    rfm.rfm_code,
    coalesce(rfm.value_tier, 'none') as value_tier,
    value_scores.value_score,
    value_scores.value_quintile,
    coalesce(value_scores.value_quintile = 5, false) as is_vip,
    cast(coalesce(tickets.ticket_count, 0) as bigint) as ticket_count,
    cast(coalesce(tickets.complaint_count, 0) as bigint) as complaint_count,
    surveys.csat_avg,
    cast(coalesce(surveys.csat_responses, 0) as bigint) as csat_responses,
    {{ publication_columns() }}
from base
left join rfm on base.customer_id = rfm.customer_id
left join value_scores on base.customer_id = value_scores.customer_id
left join tickets on base.customer_id = tickets.customer_id
left join surveys on base.customer_id = surveys.customer_id
