{#-
  Engine-specific SQL lives only here, behind adapter.dispatch (DuckDB default, Spark override).
-#}

{#- The analysis date as a DATE literal. -#}
{% macro as_of_date() -%}
    cast({{ sql_literal(var("as_of")) }} as date)
{%- endmacro %}

{#- Median of an expression (an aggregate). -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'crm_pulse')(expression)) }}
{%- endmacro %}
{% macro default__median(expression) -%}
    median({{ expression }})
{%- endmacro %}
{% macro spark__median(expression) -%}
    percentile({{ expression }}, 0.5)
{%- endmacro %}

{#- Continuous percentile (0..1) of an expression (an aggregate). -#}
{% macro percentile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'crm_pulse')(expression, fraction)) }}
{%- endmacro %}
{% macro default__percentile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}
{% macro spark__percentile_cont(expression, fraction) -%}
    percentile({{ expression }}, {{ fraction }})
{%- endmacro %}

{#- Hours between two timestamps, as a double with second precision. -#}
{% macro hours_between(start_ts, end_ts) -%}
    (cast({{ dbt.datediff(start_ts, end_ts, 'second') }} as double) / 3600)
{%- endmacro %}

{#- Division returning null (not an error) when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}

{#- Publication lineage every mart carries: the load that produced it and when. -#}
{% macro publication_columns() -%}
    cast({{ sql_literal(run_value("CRM_PULSE_LOAD_ID", "load_id", "manual")) }} as {{ dbt.type_string() }}) as load_id,
    cast({{ sql_literal(run_value("CRM_PULSE_REFRESHED_AT", "refreshed_at", "1970-01-01 00:00:00")) }}
        as {{ dbt.type_timestamp() }}) as refreshed_at
{%- endmacro %}

{#- A value that changes with every run: the environment variable `env_name` (set by the pipeline),
    else the dbt var `var_name`, else `default`. Read only when executing: values read while parsing
    are part of dbt's parse state, so a new value every run would cost a re-parse every run. -#}
{% macro run_value(env_name, var_name, default) -%}
    {%- if execute -%}{{ env_var(env_name, var(var_name, default)) }}{%- else -%}{{ default }}{%- endif -%}
{%- endmacro %}

{#- Materialisation of the large fact staging models (orders, order lines, tickets, activities):
    incremental (delete+insert on the key, see macros/incremental_facts.sql) where the engine can
    replace rows of a table; a full table rebuild elsewhere (Spark with plain Parquet tables). -#}
{% macro fact_materialization() -%}
    {{ return(adapter.dispatch('fact_materialization', 'crm_pulse')()) }}
{%- endmacro %}
{% macro default__fact_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}
{% macro spark__fact_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{#- Money divided by a positive count, rounded half-up to the cent as decimal(18,2) (exact, no
    floating-point rounding at half cents); null when the count is 0 or null. For non-negative
    amounts (e.g. average order value, cost per customer). -#}
{% macro money_per_count(amount, count) -%}
    cast(floor((2 * cast(round(({{ amount }}) * 100, 0) as double) + ({{ count }})) / nullif(2.0 * ({{ count }}), 0)) / 100 as decimal(18, 2))
{%- endmacro %}
