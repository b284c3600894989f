-- Monthly churn by dimension (all / reason / industry / company size / tenure band): customers at
-- the start of the month, customers who churned in the month, churn rate. A customer's churn
-- month is the month of int_customer_base.churn_date (the state on the analysis date).
{% set bands = var('tenure_band_years') %}
with customers as (
    select
        customer_id,
        industry,
        company_size,
        customer_since,
        churn_date,
        churn_reason
    from {{ ref('int_customer_base') }}
),

months as (
    select month_start, month_end from {{ ref('int_month_spine') }}
),

customer_months as (
    select
        months.month_start,
        customers.*,
        (customers.customer_since is null or customers.customer_since < months.month_start)
            and (customers.churn_date is null or customers.churn_date >= months.month_start) as is_at_start,
        customers.churn_date between months.month_start and months.month_end as is_churned_in_month,
        {{ dbt.datediff('customers.customer_since', 'months.month_start', 'day') }} as tenure_days_at_start
    from months
    cross join customers
),

banded as (
    select
        customer_months.*,
        case
            when tenure_days_at_start is null then 'unknown'
            {% for years in bands %}
            when tenure_days_at_start < {{ years * 365 }} then '{{ "<" ~ years ~ "y" if loop.first else bands[loop.index0 - 1] ~ "-" ~ years ~ "y" }}'
            {% endfor %}
            else '{{ bands[-1] }}y+'
        end as tenure_band
    from customer_months
    where is_at_start or is_churned_in_month
),

dimensioned as (
    select month_start, 'all' as dimension, 'all' as dimension_value, is_at_start, is_churned_in_month from banded
    union all
    select month_start, 'industry', industry, is_at_start, is_churned_in_month from banded
    union all
    select month_start, 'company_size', company_size, is_at_start, is_churned_in_month from banded
    union all
    select month_start, 'tenure_band', tenure_band, is_at_start, is_churned_in_month from banded
),

by_dimension as (
    select
        month_start,
        dimension,
        dimension_value,
        sum(case when is_at_start then 1 else 0 end) as customers_at_start,
        sum(case when is_churned_in_month then 1 else 0 end) as churned_customers
    from dimensioned
    group by month_start, dimension, dimension_value
),

by_reason as (
    select
        month_start,
        'reason' as dimension,
        churn_reason as dimension_value,
        sum(case when is_churned_in_month then 1 else 0 end) as churned_customers
    from banded
    where is_churned_in_month
    group by month_start, churn_reason
),

totals as (
    select month_start, customers_at_start from by_dimension where dimension = 'all'
),

unioned as (
    select month_start, dimension, dimension_value, customers_at_start, churned_customers from by_dimension
    union all
    select by_reason.month_start, by_reason.dimension, by_reason.dimension_value, totals.customers_at_start, by_reason.churned_customers
    from by_reason
    inner join totals on by_reason.month_start = totals.month_start
)

select
    months.month_start as period_month,
    months.month_end as period_end,
    unioned.dimension,
    unioned.dimension_value,
    cast(unioned.customers_at_start as bigint) as customers_at_start,
    cast(unioned.churned_customers as bigint) as churned_customers,
    {{ safe_divide('unioned.churned_customers', 'unioned.customers_at_start') }} as churn_rate,
    {{ publication_columns() }}
from unioned
inner join months on unioned.month_start = months.month_start
