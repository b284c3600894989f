-- One row per service ticket opened on or before the analysis date, with response and resolution
-- times (hours), SLA breach flags against the configured targets and the ticket's survey answer.
with tickets as (
    select * from {{ ref('stg_ticketing__tickets') }}
    where created_date <= {{ as_of_date() }}
),

responses as (
    select
        ticket_id,
        csat,
        nps,
        row_number() over (partition by ticket_id order by responded_at desc, response_id desc) as response_rank
    from {{ ref('stg_ticketing__satisfaction_responses') }}
    where ticket_id is not null
      and responded_date <= {{ as_of_date() }}
),

measured as (
    select
        tickets.*,
        -- end of the analysis day (exclusive), the clock for tickets still waiting
        {{ hours_between('tickets.created_at', dbt.dateadd('day', 1, 'cast(' ~ as_of_date() ~ ' as timestamp)')) }} as age_hours
    from tickets
)

select
    measured.ticket_id,
    measured.customer_id,
    measured.created_at,
    measured.created_date,
    cast({{ dbt.date_trunc('month', 'measured.created_date') }} as date) as created_month,
    measured.first_response_at,
    measured.resolved_at,
    measured.channel,
    measured.category,
    measured.priority,
    measured.ticket_status,
    measured.assignee,
    measured.is_complaint,
    measured.is_resolved,
    measured.first_response_hours,
    measured.resolution_hours,
    case
        when measured.first_response_hours is not null
            then measured.first_response_hours > {{ var('sla_first_response_hours') }}
        else measured.age_hours > {{ var('sla_first_response_hours') }}
    end as is_first_response_sla_breached,
    case
        when measured.resolution_hours is not null
            then measured.resolution_hours > {{ var('sla_resolution_hours') }}
        else measured.age_hours > {{ var('sla_resolution_hours') }}
    end as is_resolution_sla_breached,
    responses.csat,
    responses.nps,
    {{ publication_columns() }}
from measured
left join responses
    on measured.ticket_id = responses.ticket_id
    and responses.response_rank = 1
