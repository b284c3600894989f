{#-
  A model's never-null, unique and accepted-value rules, checked in one query (one test per model
  instead of one per rule: a dbt test costs ~90 ms of dbt per node and a Dagster check event each).
    not_null: columns that must never be null; a list, or a mapping reason -> list of columns (the
      reasons only document the YAML: they are not in the result).
    unique: columns each unique on its own among non-null values (as dbt's unique).
    accepted_values: mapping column -> accepted values; nulls pass (as dbt's accepted_values).
      Numbers and booleans are compared unquoted, anything else as a string literal (sql_literal).
  One scan of the model sums the null and unexpected-value rows of every rule (sum of case), plus a
  grouped subquery per unique column; returns one row per broken rule: rule ('not_null', 'unique'
  or 'accepted_values'), column_name and failing_rows = null rows, duplicated values (values held
  by more than one row, what dbt's unique counts) or rows with an unexpected value. The failure
  count is their sum (fail_calc). Portable SQL: it runs on DuckDB and Spark alike.
-#}
{% test column_rules(model, not_null=none, unique=none, accepted_values=none) %}
{{ config(fail_calc="coalesce(sum(failing_rows), 0)") }}
{%- set never_null = [] -%}
{%- for group in (not_null.values() if not_null is mapping else [not_null or []]) -%}
    {%- do never_null.extend(group) -%}
{%- endfor -%}
{#- (rule, column, condition of a failing row) of the rules the one scan counts -#}
{%- set scanned = [] -%}
{%- for column in never_null -%}
    {%- do scanned.append(('not_null', column, column ~ ' is null')) -%}
{%- endfor -%}
{%- for column, values in (accepted_values or {}).items() -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append((value | lower) if value is boolean else value if value is number else sql_literal(value)) -%}
    {%- endfor -%}
    {%- do scanned.append(('accepted_values', column, column ~ ' is not null and ' ~ column ~ ' not in (' ~ literals | join(', ') ~ ')')) -%}
{%- endfor -%}
{%- if not scanned and not unique -%}
    {{ exceptions.raise_compiler_error("column_rules on " ~ model ~ ": no not_null, unique or accepted_values rule") }}
{%- endif -%}
{%- if scanned %}
with counts as (
    select
    {%- for rule, column, condition in scanned %}
        sum(case when {{ condition }} then 1 else 0 end) as failing_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

rules as (
    {%- for rule, column, condition in scanned %}
    select {{ loop.index }} as rule_index, {{ sql_literal(rule) }} as rule, {{ sql_literal(column) }} as column_name
    {%- if not loop.last %}
    union all{% endif %}
    {%- endfor %}
)

{# one row of counts joined to the rule list: the model is scanned once, whatever the engine #}
select rule, column_name, failing_rows
from (
    select
        rules.rule,
        rules.column_name,
        case rules.rule_index
        {%- for rule in scanned %}
            when {{ loop.index }} then counts.failing_{{ loop.index }}
        {%- endfor %}
        end as failing_rows
    from counts
    cross join rules
) as scanned_rules
where failing_rows > 0
{%- endif %}
{%- for column in unique or [] %}
{% if scanned or not loop.first %}union all
{% endif -%}
select {{ sql_literal('unique') }} as rule, {{ sql_literal(column) }} as column_name, failing_rows
from (
    select count(*) as failing_rows
    from (
        select {{ column }}
        from {{ model }}
        where {{ column }} is not null
        group by {{ column }}
        having count(*) > 1
    ) as duplicated_values
) as unique_{{ loop.index }}
where failing_rows > 0
{%- endfor %}
{% endtest %}
