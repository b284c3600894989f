{{ config(
    materialized=fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook="{{ delete_superseded_versions(source('erp', 'orders')) }}"
) }}
-- Incremental on DuckDB: a run recomputes only the keys new loads touch (macros/incremental_facts.sql).
-- One row per order: the latest exported version of each order_id, typed and normalised.
with deduped as (
    {{ dedupe_latest(source('erp', 'orders'), ['order_id']) }}
)

select
    order_id,
    customer_id,
    cast(order_date as timestamp) as ordered_at,
    cast(order_date as date) as order_date,
    status as order_status,
    cast(amount as decimal(18, 2)) as amount,
    upper(coalesce(currency, {{ sql_literal(var("reporting_currency")) }})) as currency,
    coalesce(sales_rep, {{ sql_literal(var("unknown_label")) }}) as sales_rep,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
