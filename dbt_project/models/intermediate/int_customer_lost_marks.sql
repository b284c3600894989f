-- When each customer was first marked lost in the CRM: the earliest export date whose customer
-- snapshot carries status 'lost' (the CRM export has no status-change timestamp). Reads every
-- export version of the raw customers source, which staging collapses to the latest version.
select
    customer_id,
    min(_export_date) as lost_marked_date
from {{ source('crm', 'customers') }}
where status = 'lost'
  and _export_date <= {{ as_of_date() }}
group by customer_id
