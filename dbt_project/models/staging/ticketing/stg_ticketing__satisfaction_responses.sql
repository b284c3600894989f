-- One row per satisfaction survey answer: the latest exported version of each response_id, with
-- the CSAT and NPS classifications the service marts aggregate.
with deduped as (
    {{ dedupe_latest(source('ticketing', 'satisfaction'), ['response_id']) }}
)

select
    response_id,
    ticket_id,
    customer_id,
    cast(csat as bigint) as csat,
    cast(nps as bigint) as nps,
    cast(responded_at as timestamp) as responded_at,
    cast(responded_at as date) as responded_date,
    csat >= 4 as is_csat_satisfied,
    case
        when nps between 9 and 10 then 'promoter'
        when nps between 7 and 8 then 'passive'
        when nps between 0 and 6 then 'detractor'
    end as nps_group,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
