{#-
  A value as an escaped SQL string literal: the only way configuration values (dbt vars, paths)
  reach SQL. DuckDB and standard SQL double the quote (o'brien -> 'o''brien'); Spark SQL escapes
  with a backslash (and would read 'o''brien' as two adjacent literals, "obrien").
-#}
{% macro sql_literal(value) -%}
    {{ return(adapter.dispatch('sql_literal', 'crm_pulse')(value)) }}
{%- endmacro %}

{% macro default__sql_literal(value) -%}
    {{ return("'" ~ (value | string).replace("'", "''") ~ "'") }}
{%- endmacro %}

{% macro spark__sql_literal(value) -%}
    {{ return("'" ~ (value | string).replace("\\", "\\\\").replace("'", "\\'") ~ "'") }}
{%- endmacro %}
