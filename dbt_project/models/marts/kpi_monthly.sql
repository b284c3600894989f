-- Executive KPI summary, one row per calendar month (business time zone) from the first month
-- with activity to the month of the analysis date; months without orders have zero revenue.
with months as (
    select month_start, month_end from {{ ref('int_month_spine') }}
),

orders as (
    select customer_id, order_month, order_date, revenue, is_first_order from {{ ref('int_orders_enriched') }}
),

customers as (
    select customer_id, customer_since, churn_date from {{ ref('int_customer_base') }}
),

high_value as (
    select customer_id from {{ ref('customer_rfm') }} where value_tier = 'high'
),

order_stats as (
    select
        orders.order_month as month_start,
        sum(orders.revenue) as revenue,
        count(*) as orders,
        count(distinct orders.customer_id) as buying_customers,
        sum(case when orders.is_first_order then 1 else 0 end) as new_customers,
        sum(case when high_value.customer_id is not null then orders.revenue else 0 end) as high_value_revenue
    from orders
    left join high_value on orders.customer_id = high_value.customer_id
    group by orders.order_month
),

order_milestones as (
    -- a customer has 1+ orders up to a day once its first order is on or before it, 2+ once its
    -- second order is
    select
        customer_id,
        min(order_date) as first_order_date,
        min(case when order_rank = 2 then order_date end) as second_order_date
    from (
        select customer_id, order_date, row_number() over (partition by customer_id order by order_date) as order_rank
        from orders
    ) as ranked
    group by customer_id
),

repeat_stats as (
    select
        months.month_start,
        sum(case when order_milestones.first_order_date <= months.month_end then 1 else 0 end) as buyers_to_date,
        sum(case when order_milestones.second_order_date <= months.month_end then 1 else 0 end) as repeat_buyers_to_date
    from months
    cross join order_milestones
    group by months.month_start
),

base_stats as (
    select
        months.month_start,
        sum(case when customers.customer_since is null or customers.customer_since <= months.month_end then 1 else 0 end)
            as customers_total,
        sum(case
            when (customers.customer_since is null or customers.customer_since < months.month_start)
                and (customers.churn_date is null or customers.churn_date >= months.month_start) then 1 else 0
        end) as customers_at_start,
        sum(case when customers.churn_date between months.month_start and months.month_end then 1 else 0 end)
            as churned_customers,
        sum(case
            when (customers.customer_since is null or customers.customer_since < months.month_start)
                and customers.churn_date between months.month_start and months.month_end then 1 else 0
        end) as churned_from_start
    from months
    cross join customers
    group by months.month_start
),

survey_stats as (
    select
        cast({{ dbt.date_trunc('month', 'responded_date') }} as date) as month_start,
        {{ survey_counts() }}
    from {{ ref('stg_ticketing__satisfaction_responses') }}
    where responded_date <= {{ as_of_date() }}
    group by 1
),

joined as (
    select
        months.month_start,
        months.month_end,
        coalesce(base_stats.customers_total, 0) as customers_total,
        coalesce(base_stats.customers_at_start, 0) as customers_at_start,
        coalesce(order_stats.new_customers, 0) as new_customers,
        coalesce(order_stats.buying_customers, 0) as active_customers,
        coalesce(base_stats.churned_customers, 0) as churned_customers,
        coalesce(base_stats.churned_from_start, 0) as churned_from_start,
        coalesce(repeat_stats.buyers_to_date, 0) as buyers_to_date,
        coalesce(repeat_stats.repeat_buyers_to_date, 0) as repeat_buyers_to_date,
        coalesce(order_stats.revenue, cast(0 as decimal(18, 2))) as revenue,
        coalesce(order_stats.orders, 0) as orders,
        coalesce(order_stats.high_value_revenue, cast(0 as decimal(18, 2))) as high_value_revenue,
        survey_stats.csat_responses,
        survey_stats.csat_satisfied,
        survey_stats.nps_responses,
        survey_stats.nps_promoters,
        survey_stats.nps_detractors
    from months
    left join order_stats on months.month_start = order_stats.month_start
    left join repeat_stats on months.month_start = repeat_stats.month_start
    left join base_stats on months.month_start = base_stats.month_start
    left join survey_stats on months.month_start = survey_stats.month_start
),

compared as (
    select
        joined.*,
        previous.revenue as previous_month_revenue,
        last_year.revenue as last_year_revenue
    from joined
    left join joined as previous
        on previous.month_start = cast({{ dbt.dateadd('month', -1, 'joined.month_start') }} as date)
    left join joined as last_year
        on last_year.month_start = cast({{ dbt.dateadd('year', -1, 'joined.month_start') }} as date)
)

select
    month_start,
    month_end,
    month_end <= {{ as_of_date() }} as is_month_complete,
    cast(customers_total as bigint) as customers_total,
    cast(customers_at_start as bigint) as customers_at_start,
    cast(new_customers as bigint) as new_customers,
    cast(active_customers as bigint) as active_customers,
    cast(churned_customers as bigint) as churned_customers,
    {{ safe_divide('churned_from_start', 'customers_at_start') }} as churn_rate,
    {{ safe_divide('customers_at_start - churned_from_start', 'customers_at_start') }} as retention_rate,
    {{ safe_divide('repeat_buyers_to_date', 'buyers_to_date') }} as repeat_purchase_rate,
    revenue,
    previous_month_revenue,
    {{ safe_divide('revenue - previous_month_revenue', 'previous_month_revenue') }} as revenue_growth_mom,
    last_year_revenue,
    {{ safe_divide('revenue - last_year_revenue', 'last_year_revenue') }} as revenue_growth_yoy,
    cast(orders as bigint) as orders,
    {{ money_per_count('revenue', 'orders') }} as average_order_value,
    100 * {{ safe_divide('csat_satisfied', 'csat_responses') }} as csat_pct,
    100 * {{ safe_divide('nps_promoters - nps_detractors', 'nps_responses') }} as nps,
    high_value_revenue,
    {{ safe_divide('high_value_revenue', 'revenue') }} as high_value_revenue_share,
    {{ publication_columns() }}
from compared
