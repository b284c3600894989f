{#-
  Keep the latest version of each key across repeated exports: the row from the newest export
  date wins; within one export date the latest load, then the last row in the file.
  Returns all columns of `relation` (lineage columns included). In an incremental build only the
  keys a new load can change are ranked (macros/incremental_facts.sql).
-#}
{% macro dedupe_latest(relation, key_columns) -%}
select *
from (
    select
        src.*,
        row_number() over (
            partition by {{ key_columns | join(', ') }}
            order by _export_date desc, _loaded_at desc, _source_file desc, _row_number desc
        ) as _version_rank
    from {{ relation }} as src
    {%- if is_incremental() %}
    where {{ incremental_changed_keys(relation, key_columns[0]) }}
    {%- endif %}
) as ranked
where _version_rank = 1
{%- endmacro %}
