-- One row per customer: the latest exported version of each customer_id (repeated snapshots
-- collapse; the newest export wins). Contact details arrive already masked and keyed-hashed: ingest
-- (data_contracts/privacy.py) replaces the raw phone / e-mail by <col>_masked and an HMAC-SHA256
-- <col>_hash, so not even the raw layer holds them raw (DuckDB and Spark have no HMAC).
with deduped as (
    {{ dedupe_latest(source('crm', 'customers'), ['customer_id']) }}
)

select
    customer_id,
    customer_name,
    coalesce(industry, {{ sql_literal(var("unknown_label")) }}) as industry,
    coalesce(region, {{ sql_literal(var("unknown_label")) }}) as region,
    coalesce(city, {{ sql_literal(var("unknown_label")) }}) as city,
    coalesce(company_size, 'unknown') as company_size,
    coalesce(owner_rep, {{ sql_literal(var("unknown_label")) }}) as owner_rep,
    industry is null as is_industry_missing,
    owner_rep is null as is_owner_missing,
    first_deal_date,
    cast(created_at as timestamp) as created_at,
    status as crm_status,
    lost_reason,
    phone_masked,
    phone_hash,
    email_masked,
    email_hash,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
