-- One row per opportunity: the latest exported version of each opportunity_id (a deal is exported
-- again when it moves stage or closes; the newest export wins), typed and normalised.
with deduped as (
    {{ dedupe_latest(source('crm', 'opportunities'), ['opportunity_id']) }}
)

select
    opportunity_id,
    customer_id,
    coalesce(owner_rep, {{ sql_literal(var("unknown_label")) }}) as owner_rep,
    owner_rep is null as is_owner_missing,
    coalesce(stage, {{ sql_literal(var("unknown_label")) }}) as stage,
    cast(amount as decimal(18, 2)) as amount,
    created_date,
    close_date,
    (close_date is not null or is_won is not null) as is_closed,
    case
        when close_date is not null or is_won is not null then coalesce(is_won, false)
    end as is_won,
    lost_reason,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
