-- One row per campaign and customer reached: the latest exported version of each
-- (campaign_id, customer_id) pair (member exports are cumulative; the newest export wins).
with deduped as (
    {{ dedupe_latest(source('crm', 'campaign_members'), ['campaign_id', 'customer_id']) }}
)

select
    {{ dbt.concat(['campaign_id', "'|'", 'customer_id']) }} as campaign_member_key,
    campaign_id,
    customer_id,
    cast(responded_at as timestamp) as responded_at,
    cast(converted_at as timestamp) as converted_at,
    (responded_at is not null or converted_at is not null) as has_responded,
    converted_at is not null as has_converted,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
