{{ config(
    materialized=fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='ticket_id',
    on_schema_change='fail',
    post_hook="{{ delete_superseded_versions(source('ticketing', 'tickets')) }}"
) }}
-- Incremental on DuckDB: a run recomputes only the keys new loads touch (macros/incremental_facts.sql).
-- One row per service ticket: the latest exported version of each ticket_id (a ticket is exported
-- again in the month it is resolved; the newest export wins), with response and resolution times.
with deduped as (
    {{ dedupe_latest(source('ticketing', 'tickets'), ['ticket_id']) }}
)

select
    ticket_id,
    customer_id,
    cast(created_at as timestamp) as created_at,
    cast(created_at as date) as created_date,
    cast(first_response_at as timestamp) as first_response_at,
    cast(resolved_at as timestamp) as resolved_at,
    coalesce(channel, {{ sql_literal(var("unknown_label")) }}) as channel,
    coalesce(category, 'unknown') as category,
    coalesce(priority, 'unknown') as priority,
    coalesce(status, 'unknown') as ticket_status,
    coalesce(assignee, {{ sql_literal(var("unknown_label")) }}) as assignee,
    assignee is null as is_assignee_missing,
    coalesce(is_complaint, false) as is_complaint,
    resolved_at is not null as is_resolved,
    cast({{ hours_between('created_at', 'first_response_at') }} as double) as first_response_hours,
    cast({{ hours_between('created_at', 'resolved_at') }} as double) as resolution_hours,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
