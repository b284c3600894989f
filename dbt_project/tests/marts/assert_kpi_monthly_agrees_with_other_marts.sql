-- Integrity across marts: kpi_monthly revenue equals the completed revenue of fct_orders per
-- month, and its churned customers equal churn_summary's 'all' row and the sum over industries.
-- Returns the months that disagree (none = pass).
{{ config(meta={'dagster': {'ref': {'name': 'kpi_monthly'}}}) }}  -- Dagster asset check on kpi_monthly
with orders as (
    select cast({{ dbt.date_trunc('month', 'order_date') }} as date) as month_start, sum(revenue) as revenue
    from {{ ref('fct_orders') }}
    where is_completed
    group by 1
),

churn_all as (
    select period_month, churned_customers from {{ ref('churn_summary') }} where dimension = 'all'
),

churn_industry as (
    select period_month, sum(churned_customers) as churned_customers
    from {{ ref('churn_summary') }}
    where dimension = 'industry'
    group by period_month
)

select kpi.month_start, kpi.revenue, orders.revenue as order_revenue, kpi.churned_customers
from {{ ref('kpi_monthly') }} as kpi
left join orders on kpi.month_start = orders.month_start
left join churn_all on kpi.month_start = churn_all.period_month
left join churn_industry on kpi.month_start = churn_industry.period_month
where kpi.revenue <> coalesce(orders.revenue, 0)
   or kpi.churned_customers <> coalesce(churn_all.churned_customers, 0)
   or coalesce(churn_all.churned_customers, 0) <> coalesce(churn_industry.churned_customers, 0)
