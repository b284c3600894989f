-- One row per customer: the latest exported version of each customer_id (repeated snapshots
-- collapse; the newest export wins). Contact details are masked and hashed here, so no raw phone
-- number or e-mail address travels further than the raw layer.
with deduped as (
    {{ dedupe_latest(source('crm', 'customers'), ['customer_id']) }}
)

select
    customer_id,
    customer_name,
    coalesce(industry, '{{ var("unknown_label") }}') as industry,
    coalesce(region, '{{ var("unknown_label") }}') as region,
    coalesce(city, '{{ var("unknown_label") }}') as city,
    coalesce(company_size, 'unknown') as company_size,
    coalesce(owner_rep, '{{ var("unknown_label") }}') as owner_rep,
    industry is null as is_industry_missing,
    owner_rep is null as is_owner_missing,
    first_deal_date,
    cast(created_at as timestamp) as created_at,
    status as crm_status,
    lost_reason,
    {{ mask_contact('phone') }} as phone_masked,
    {{ hash_contact('phone') }} as phone_hash,
    {{ mask_contact('email') }} as email_masked,
    {{ hash_contact('email') }} as email_hash,
    _source_file,
    _export_date,
    _load_id,
    _loaded_at
from deduped
