{{ config(
    materialized=fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_item_key',
    on_schema_change='fail',
    post_hook="{{ delete_superseded_versions(source('erp', 'order_items')) }}"
) }}
-- Incremental on DuckDB: a run recomputes only the keys new loads touch (macros/incremental_facts.sql).
-- One row per order line: the latest exported version of each (order_id, sku) pair (lines of
-- orders exported again collapse; the newest export wins), with the line amount.
with deduped as (
    {{ dedupe_latest(source('erp', 'order_items'), ['order_id', 'sku']) }}
)

select
    {{ dbt.concat(['order_id', "'|'", 'sku']) }} as order_item_key,
    order_id,
    sku,
    cast(quantity as bigint) as quantity,
    cast(unit_price as decimal(18, 2)) as unit_price,
    cast(quantity * unit_price as decimal(18, 2)) as line_amount,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
