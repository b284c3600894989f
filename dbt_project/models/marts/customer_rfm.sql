-- RFM per customer with at least one completed order in the window (var rfm_window_days) ending
-- on the analysis date. Scores are quintiles, 5 best; ties are broken by customer_id so every
-- quintile is filled.
with window_orders as (
    select customer_id, order_date, revenue
    from {{ ref('int_orders_converted') }}
    where is_completed
      and order_date > {{ dbt.dateadd('day', -1 * var('rfm_window_days'), as_of_date()) }}
),

aggregated as (
    select
        customer_id,
        max(order_date) as last_order_date,
        count(*) as frequency,
        sum(revenue) as monetary
    from window_orders
    group by customer_id
),

measured as (
    select
        aggregated.*,
        {{ dbt.datediff('last_order_date', as_of_date(), 'day') }} as recency_days
    from aggregated
),

scored as (
    select
        measured.*,
        ntile(5) over (order by recency_days desc, customer_id) as r_score,
        ntile(5) over (order by frequency, customer_id) as f_score,
        ntile(5) over (order by monetary, customer_id) as m_score
    from measured
),

matched as (
    select
        scored.customer_id,
        segments.segment,
        row_number() over (partition by scored.customer_id order by segments.priority) as match_rank
    from scored
    inner join {{ ref('rfm_segments') }} as segments
        on scored.r_score between segments.r_min and segments.r_max
        and scored.f_score between segments.f_min and segments.f_max
        and scored.m_score between segments.m_min and segments.m_max
)

select
    scored.customer_id,
    scored.last_order_date,
    scored.recency_days,
    scored.frequency,
    scored.monetary,
    scored.r_score,
    scored.f_score,
    scored.m_score,
    {{ dbt.concat(["cast(scored.r_score as " ~ dbt.type_string() ~ ")", "cast(scored.f_score as " ~ dbt.type_string() ~ ")", "cast(scored.m_score as " ~ dbt.type_string() ~ ")"]) }} as rfm_code,
    coalesce(matched.segment, 'Others') as rfm_segment,
    case
        when (case when scored.recency_days <= {{ var('rfm_high_value_recency_days') }} then 1 else 0 end
            + case when scored.frequency >= {{ var('rfm_high_value_min_frequency') }} then 1 else 0 end
            + case when scored.monetary >= {{ var('rfm_high_value_min_monetary') }} then 1 else 0 end) = 3 then 'high'
        when (case when scored.recency_days <= {{ var('rfm_high_value_recency_days') }} then 1 else 0 end
            + case when scored.frequency >= {{ var('rfm_high_value_min_frequency') }} then 1 else 0 end
            + case when scored.monetary >= {{ var('rfm_high_value_min_monetary') }} then 1 else 0 end) = 2 then 'medium'
        else 'low'
    end as value_tier,
    {{ publication_columns() }}
from scored
left join matched
    on scored.customer_id = matched.customer_id
    and matched.match_rank = 1
