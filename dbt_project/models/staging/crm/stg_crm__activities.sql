{{ config(
    materialized=fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='activity_id',
    on_schema_change='fail',
    post_hook="{{ delete_superseded_versions(source('crm', 'activities')) }}"
) }}
-- Incremental on DuckDB: a run recomputes only the keys new loads touch (macros/incremental_facts.sql).
-- One row per follow-up activity: the latest exported version of each activity_id, typed and
-- normalised.
with deduped as (
    {{ dedupe_latest(source('crm', 'activities'), ['activity_id']) }}
)

select
    activity_id,
    customer_id,
    coalesce(rep, {{ sql_literal(var("unknown_label")) }}) as rep,
    rep is null as is_rep_missing,
    activity_type,
    cast(activity_at as timestamp) as activity_at,
    cast(activity_at as date) as activity_date,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
