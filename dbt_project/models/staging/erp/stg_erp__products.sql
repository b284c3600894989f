-- One row per product: the latest exported version of each sku (renames and re-categorisations
-- in later exports win), typed and normalised.
with deduped as (
    {{ dedupe_latest(source('erp', 'products'), ['sku']) }}
)

select
    sku,
    product_name,
    coalesce(category, {{ sql_literal(var("unknown_label")) }}) as category,
    category is null as is_category_missing,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
