-- Reconciliation: for every period type and period, the revenue and order count summed over all
-- reps, regions and industries of sales_performance equal the completed orders of fct_orders.
-- Returns the periods that disagree (none = pass).
{{ config(meta={'dagster': {'ref': {'name': 'sales_performance'}}}) }}  -- Dagster asset check on sales_performance
{% set grains = ['month', 'quarter', 'year'] %}
with facts as (
    {% for grain in grains %}
    select '{{ grain }}' as period_type, cast({{ dbt.date_trunc(grain, 'order_date') }} as date) as period_start,
        sum(revenue) as revenue, count(*) as orders
    from {{ ref('fct_orders') }}
    where is_completed
    group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

mart as (
    select period_type, period_start, sum(revenue) as revenue, sum(orders) as orders, max(team_period_revenue) as team_revenue
    from {{ ref('sales_performance') }}
    group by 1, 2
)

select facts.period_type, facts.period_start, facts.revenue, mart.revenue as mart_revenue, mart.team_revenue
from facts
left join mart on facts.period_type = mart.period_type and facts.period_start = mart.period_start
where mart.revenue is null
   or mart.revenue <> facts.revenue
   or mart.orders <> facts.orders
   or mart.team_revenue <> facts.revenue
