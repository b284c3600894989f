{#-
  Incremental builds of the large fact staging models (orders, order lines, tickets, activities).

  A full build deduplicates every exported version of every key (dedupe_latest). An incremental
  build (is_incremental(): the model is materialised 'incremental' and already exists) only
  recomputes the keys a new load can change, and the model replaces those rows (delete+insert on
  its unique_key):
    - keys with a raw row loaded after the newest _loaded_at already in the model (new exports,
      files that failed to build last time, corrected re-exports), and
    - keys whose current row came from a file that was loaded again (a corrected re-export of an
      earlier day: its keys may now resolve to another export, or to none at all).
  For those keys every exported version is ranked again (newest export date, then newest load), so
  a late file for an earlier day never overrides a newer export, and the result equals a full build.
  Rows of a superseded file load whose key no longer exists in any export are deleted afterwards
  (post-hook delete_superseded_versions). `crm-pulse run --full-refresh` rebuilds from scratch.
-#}

{#- SQL predicate on `src` limiting a dedupe to the keys an incremental build must recompute. -#}
{% macro incremental_changed_keys(relation, change_key) -%}
    src.{{ change_key }} in (
        select {{ change_key }} from {{ relation }}
        where _loaded_at > ({{ incremental_watermark() }})
        union
        select {{ change_key }} from {{ this }}
        where _source_file in (
            select _source_file from {{ relation }}
            where _loaded_at > ({{ incremental_watermark() }})
        )
    )
{%- endmacro %}

{#- The newest load already built into this model. -#}
{% macro incremental_watermark() -%}
    select coalesce(max(_loaded_at), cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})) from {{ this }}
{%- endmacro %}

{#- Post-hook: drop rows of superseded file loads whose key is in no export any more. -#}
{% macro delete_superseded_versions(relation) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ dbt.concat(['_source_file', "'|'", '_load_id']) }} not in (
        select distinct {{ dbt.concat(['_source_file', "'|'", '_load_id']) }} from {{ relation }}
    )
    {%- endif -%}
{%- endmacro %}
