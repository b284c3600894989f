-- Service performance per period (month, quarter, year) x ticket category x channel. Tickets
-- count in the period they were opened; survey answers in the period they were given, under the
-- category and channel of their ticket (answers without a known ticket: var unknown_label).
{% set grains = ['month', 'quarter', 'year'] %}
{% set months_len = {'month': 1, 'quarter': 3, 'year': 12} %}
with tickets as (
    select * from {{ ref('fct_tickets') }}
),

surveys as (
    select
        responses.responded_date,
        coalesce(tickets.category, {{ sql_literal(var("unknown_label")) }}) as category,
        coalesce(tickets.channel, {{ sql_literal(var("unknown_label")) }}) as channel,
        responses.csat,
        responses.nps
    from {{ ref('stg_ticketing__satisfaction_responses') }} as responses
    left join tickets on responses.ticket_id = tickets.ticket_id
    where responses.responded_date <= {{ as_of_date() }}
),

ticket_stats as (
    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        cast({{ dbt.date_trunc(grain, 'created_date') }} as date) as period_start,
        category,
        channel,
        count(*) as tickets,
        sum(case when is_complaint then 1 else 0 end) as complaints,
        sum(case when is_resolved then 1 else 0 end) as resolved_tickets,
        count(first_response_hours) as responded_tickets,
        {{ median('first_response_hours') }} as first_response_hours_median,
        {{ percentile_cont('first_response_hours', 0.9) }} as first_response_hours_p90,
        {{ median('resolution_hours') }} as resolution_hours_median,
        {{ percentile_cont('resolution_hours', 0.9) }} as resolution_hours_p90,
        sum(case when is_first_response_sla_breached then 1 else 0 end) as first_response_sla_breaches,
        sum(case when is_resolution_sla_breached then 1 else 0 end) as resolution_sla_breaches
    from tickets
    group by 1, 2, 3, 4
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

survey_stats as (
    {% for grain in grains %}
    select
        '{{ grain }}' as period_type,
        cast({{ dbt.date_trunc(grain, 'responded_date') }} as date) as period_start,
        category,
        channel,
        {{ survey_counts() }}
    from surveys
    group by 1, 2, 3, 4
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

keys as (
    select period_type, period_start, category, channel from ticket_stats
    union
    select period_type, period_start, category, channel from survey_stats
),

joined as (
    select
        keys.period_type,
        keys.period_start,
        case keys.period_type
            {% for grain in grains %}
            when '{{ grain }}' then cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', months_len[grain], 'keys.period_start')) }} as date)
            {% endfor %}
        end as period_end,
        keys.category,
        keys.channel,
        coalesce(ticket_stats.tickets, 0) as tickets,
        coalesce(ticket_stats.complaints, 0) as complaints,
        coalesce(ticket_stats.resolved_tickets, 0) as resolved_tickets,
        ticket_stats.first_response_hours_median,
        ticket_stats.first_response_hours_p90,
        ticket_stats.resolution_hours_median,
        ticket_stats.resolution_hours_p90,
        coalesce(ticket_stats.first_response_sla_breaches, 0) as first_response_sla_breaches,
        coalesce(ticket_stats.resolution_sla_breaches, 0) as resolution_sla_breaches,
        coalesce(survey_stats.csat_responses, 0) as csat_responses,
        coalesce(survey_stats.csat_satisfied, 0) as csat_satisfied,
        coalesce(survey_stats.nps_responses, 0) as nps_responses,
        coalesce(survey_stats.nps_promoters, 0) as nps_promoters,
        coalesce(survey_stats.nps_detractors, 0) as nps_detractors
    from keys
    left join ticket_stats
        on keys.period_type = ticket_stats.period_type
        and keys.period_start = ticket_stats.period_start
        and keys.category = ticket_stats.category
        and keys.channel = ticket_stats.channel
    left join survey_stats
        on keys.period_type = survey_stats.period_type
        and keys.period_start = survey_stats.period_start
        and keys.category = survey_stats.category
        and keys.channel = survey_stats.channel
)

select
    period_type,
    period_start,
    period_end,
    period_end <= {{ as_of_date() }} as is_period_complete,
    category,
    channel,
    cast(tickets as bigint) as tickets,
    cast(complaints as bigint) as complaints,
    cast(resolved_tickets as bigint) as resolved_tickets,
    {{ safe_divide('resolved_tickets', 'tickets') }} as resolution_rate,
    first_response_hours_median,
    first_response_hours_p90,
    resolution_hours_median,
    resolution_hours_p90,
    cast(first_response_sla_breaches as bigint) as first_response_sla_breaches,
    {{ safe_divide('first_response_sla_breaches', 'tickets') }} as first_response_sla_breach_rate,
    cast(resolution_sla_breaches as bigint) as resolution_sla_breaches,
    {{ safe_divide('resolution_sla_breaches', 'tickets') }} as resolution_sla_breach_rate,
    cast(csat_responses as bigint) as csat_responses,
    100 * {{ safe_divide('csat_satisfied', 'csat_responses') }} as csat_pct,
    cast(nps_responses as bigint) as nps_responses,
    100 * {{ safe_divide('nps_promoters - nps_detractors', 'nps_responses') }} as nps,
    {{ publication_columns() }}
from joined
