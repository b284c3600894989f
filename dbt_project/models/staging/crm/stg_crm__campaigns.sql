-- One row per marketing campaign: the latest exported version of each campaign_id (campaign
-- exports are cumulative; the newest export wins), typed and normalised.
with deduped as (
    {{ dedupe_latest(source('crm', 'campaigns'), ['campaign_id']) }}
)

select
    campaign_id,
    name as campaign_name,
    coalesce(channel, {{ sql_literal(var("unknown_label")) }}) as channel,
    channel is null as is_channel_missing,
    start_date,
    end_date,
    cast(cost as decimal(18, 2)) as cost,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
