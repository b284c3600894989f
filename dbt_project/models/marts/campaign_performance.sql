-- Marketing funnel and return per campaign started on or before the analysis date. Revenue is
-- attributed last-touch: a completed order belongs to the campaign whose conversion of that
-- customer is the latest one on or before the order date and at most var
-- campaign_attribution_days days earlier (so no order is counted twice).
with campaigns as (
    select * from {{ ref('stg_crm__campaigns') }}
    where start_date <= {{ as_of_date() }}
),

members as (
    select
        campaign_id,
        customer_id,
        has_responded,
        has_converted,
        cast(converted_at as date) as converted_date
    from {{ ref('stg_crm__campaign_members') }}
),

orders as (
    select order_id, customer_id, order_date, revenue from {{ ref('int_orders_enriched') }}
),

first_orders as (
    select customer_id, min(order_date) as first_order_date from orders group by customer_id
),

touches as (
    select
        orders.order_id,
        orders.revenue,
        members.campaign_id,
        row_number() over (
            partition by orders.order_id
            order by members.converted_date desc, members.campaign_id desc
        ) as touch_rank
    from orders
    inner join members
        on orders.customer_id = members.customer_id
        and members.has_converted
        and members.converted_date <= orders.order_date
        and orders.order_date <= cast({{ dbt.dateadd('day', var('campaign_attribution_days'), 'members.converted_date') }} as date)
    inner join campaigns on members.campaign_id = campaigns.campaign_id
),

attributed as (
    select campaign_id, count(*) as attributed_orders, sum(revenue) as attributed_revenue
    from touches
    where touch_rank = 1
    group by campaign_id
),

funnel as (
    select
        members.campaign_id,
        count(*) as participants,
        sum(case when members.has_responded then 1 else 0 end) as responders,
        sum(case when members.has_converted and members.converted_date <= {{ as_of_date() }} then 1 else 0 end) as converted_customers,
        sum(case
            when members.has_converted and members.converted_date <= {{ as_of_date() }}
                and (first_orders.first_order_date is null or first_orders.first_order_date >= members.converted_date)
                then 1 else 0
        end) as new_customers
    from members
    left join first_orders on members.customer_id = first_orders.customer_id
    group by members.campaign_id
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    campaigns.channel,
    campaigns.start_date,
    campaigns.end_date,
    cast(coalesce(funnel.participants, 0) as bigint) as participants,
    cast(coalesce(funnel.responders, 0) as bigint) as responders,
    cast(coalesce(funnel.converted_customers, 0) as bigint) as converted_customers,
    cast(coalesce(funnel.new_customers, 0) as bigint) as new_customers,
    {{ safe_divide('coalesce(funnel.responders, 0)', 'funnel.participants') }} as response_rate,
    {{ safe_divide('coalesce(funnel.converted_customers, 0)', 'funnel.participants') }} as conversion_rate,
    cast(coalesce(attributed.attributed_orders, 0) as bigint) as attributed_orders,
    coalesce(attributed.attributed_revenue, cast(0 as decimal(18, 2))) as attributed_revenue,
    campaigns.cost,
    {{ safe_divide('coalesce(attributed.attributed_revenue, 0) - campaigns.cost', 'campaigns.cost') }} as roi,
    {{ money_per_count('campaigns.cost', 'funnel.new_customers') }} as customer_acquisition_cost,
    {{ publication_columns() }}
from campaigns
left join funnel on campaigns.campaign_id = funnel.campaign_id
left join attributed on campaigns.campaign_id = attributed.campaign_id
