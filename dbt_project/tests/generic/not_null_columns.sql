{#-
  Every listed column of the model is never null, checked in one scan (one query per model
  instead of one per column: a dbt test costs a query and a Dagster check event each).
  Returns one row per column that holds nulls, with their count; the failure count is the number
  of null cells (fail_calc), as the per-column not_null tests it replaces counted null rows.
  Portable SQL (sum of case), so it runs on DuckDB and Spark alike.
-#}
{% test not_null_columns(model, columns) %}
{{ config(fail_calc="coalesce(sum(null_rows), 0)") }}
with null_counts as (
    select
    {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as null_rows_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
select '{{ column }}' as column_name, null_rows_{{ loop.index }} as null_rows
from null_counts
where null_rows_{{ loop.index }} > 0
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
