-- Sales performance per period (month, quarter, year) x rep x region x industry: revenue, orders,
-- buying and new customers, opportunity win rate, growth against the previous period and the same
-- period last year, and each rep against the team average. Periods are calendar periods of the
-- business-time-zone order date; growth compares against the period found by date arithmetic
-- (never the previous row), so missing months count as zero revenue, not as "the month before".
{% set grains = ['month', 'quarter', 'year'] %}
{% set months_back = {'month': 1, 'quarter': 3, 'year': 12} %}
with orders as (
    select * from {{ ref('int_orders_enriched') }}
),

customers as (
    select customer_id, region, industry from {{ ref('stg_crm__customers') }}
),

opportunities as (
    select
        opps.owner_rep as sales_rep,
        coalesce(customers.region, {{ sql_literal(var("unknown_label")) }}) as region,
        coalesce(customers.industry, {{ sql_literal(var("unknown_label")) }}) as industry,
        opps.close_date,
        opps.is_won
    from {{ ref('stg_crm__opportunities') }} as opps
    left join customers on opps.customer_id = customers.customer_id
    where opps.is_closed
      and opps.close_date is not null
      and opps.close_date <= {{ as_of_date() }}
),

facts as (
    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        cast({{ dbt.date_trunc(grain, 'order_date') }} as date) as period_start,
        sales_rep, region, industry,
        revenue,
        1 as order_count,
        customer_id as buying_customer_id,
        case when is_first_order then customer_id end as new_customer_id,
        0 as is_closed_opportunity,
        0 as is_won_opportunity
    from orders
    union all
    select
        '{{ grain }}' as period_type,
        cast({{ dbt.date_trunc(grain, 'close_date') }} as date) as period_start,
        sales_rep, region, industry,
        cast(0 as decimal(18, 2)) as revenue,
        0 as order_count,
        cast(null as {{ dbt.type_string() }}) as buying_customer_id,
        cast(null as {{ dbt.type_string() }}) as new_customer_id,
        1 as is_closed_opportunity,
        case when is_won then 1 else 0 end as is_won_opportunity
    from opportunities
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

aggregated as (
    select
        period_type,
        period_start,
        sales_rep,
        region,
        industry,
        sum(revenue) as revenue,
        sum(order_count) as orders,
        count(distinct buying_customer_id) as buying_customers,
        count(distinct new_customer_id) as new_customers,
        sum(is_closed_opportunity) as closed_opportunities,
        sum(is_won_opportunity) as won_opportunities
    from facts
    group by period_type, period_start, sales_rep, region, industry
),

data_start as (
    select min(order_date) as first_order_date from orders
),

keyed as (
    select
        aggregated.*,
        case aggregated.period_type
            {% for grain in grains %}
            when '{{ grain }}' then cast({{ dbt.dateadd('month', -1 * months_back[grain], 'aggregated.period_start') }} as date)
            {% endfor %}
        end as previous_period_start,
        cast({{ dbt.dateadd('year', -1, 'aggregated.period_start') }} as date) as last_year_period_start,
        case aggregated.period_type
            {% for grain in grains %}
            when '{{ grain }}' then cast({{ dbt.date_trunc(grain, 'data_start.first_order_date') }} as date)
            {% endfor %}
        end as first_period_with_data,
        case aggregated.period_type
            {% for grain in grains %}
            when '{{ grain }}' then cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', months_back[grain], 'aggregated.period_start')) }} as date)
            {% endfor %}
        end as period_end
    from aggregated
    cross join data_start
),

compared as (
    select
        keyed.*,
        case
            when keyed.previous_period_start >= keyed.first_period_with_data
                then coalesce(previous.revenue, cast(0 as decimal(18, 2)))
        end as previous_period_revenue,
        case
            when keyed.last_year_period_start >= keyed.first_period_with_data
                then coalesce(last_year.revenue, cast(0 as decimal(18, 2)))
        end as last_year_revenue
    from keyed
    left join aggregated as previous
        on keyed.period_type = previous.period_type
        and keyed.previous_period_start = previous.period_start
        and keyed.sales_rep = previous.sales_rep
        and keyed.region = previous.region
        and keyed.industry = previous.industry
    left join aggregated as last_year
        on keyed.period_type = last_year.period_type
        and keyed.last_year_period_start = last_year.period_start
        and keyed.sales_rep = last_year.sales_rep
        and keyed.region = last_year.region
        and keyed.industry = last_year.industry
),

rep_totals as (
    select period_type, period_start, sales_rep, sum(revenue) as rep_period_revenue
    from aggregated
    group by period_type, period_start, sales_rep
),

team_totals as (
    select
        period_type,
        period_start,
        sum(rep_period_revenue) as team_period_revenue,
        sum(case when rep_period_revenue > 0 then 1 else 0 end) as team_rep_count
    from rep_totals
    group by period_type, period_start
)

select
    compared.period_type,
    compared.period_start,
    compared.period_end,
    compared.period_end <= {{ as_of_date() }} as is_period_complete,
    compared.sales_rep,
    compared.region,
    compared.industry,
    compared.revenue,
    cast(compared.orders as bigint) as orders,
    cast(compared.buying_customers as bigint) as buying_customers,
    {{ money_per_count('compared.revenue', 'compared.orders') }} as average_order_value,
    cast(compared.new_customers as bigint) as new_customers,
    cast(compared.closed_opportunities as bigint) as closed_opportunities,
    cast(compared.won_opportunities as bigint) as won_opportunities,
    {{ safe_divide('compared.won_opportunities', 'compared.closed_opportunities') }} as win_rate,
    compared.previous_period_revenue,
    {{ safe_divide('compared.revenue - compared.previous_period_revenue', 'compared.previous_period_revenue') }} as revenue_growth_vs_previous,
    compared.last_year_revenue,
    {{ safe_divide('compared.revenue - compared.last_year_revenue', 'compared.last_year_revenue') }} as revenue_growth_vs_last_year,
    rep_totals.rep_period_revenue,
    team_totals.team_period_revenue,
    cast(team_totals.team_rep_count as bigint) as team_rep_count,
    {{ money_per_count('team_totals.team_period_revenue', 'team_totals.team_rep_count') }} as team_avg_rep_revenue,
    {{ safe_divide('rep_totals.rep_period_revenue', safe_divide('team_totals.team_period_revenue', 'team_totals.team_rep_count')) }} as rep_vs_team_avg,
    {{ publication_columns() }}
from compared
inner join rep_totals
    on compared.period_type = rep_totals.period_type
    and compared.period_start = rep_totals.period_start
    and compared.sales_rep = rep_totals.sales_rep
inner join team_totals
    on compared.period_type = team_totals.period_type
    and compared.period_start = team_totals.period_start
