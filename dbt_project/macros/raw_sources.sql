{#-
  The raw layer (Parquet written by ingest) is the one input of every engine. Each source declares
  where its files are in `meta.external_location` (a DuckDB `read_parquet('<glob>', ...)` call that
  dbt-duckdb reads directly). Other engines get a view per source table over the same files,
  created by this on-run-start hook (dbt_project.yml), so models only ever use source().
-#}
{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources', 'crm_pulse')()) }}
{%- endmacro %}

{#- DuckDB (dbt-duckdb) resolves external_location itself: nothing to do. -#}
{% macro default__register_raw_sources() -%}
{%- endmacro %}

{% macro spark__register_raw_sources() -%}
    {%- if execute -%}
        {#- only the sources this invocation reads: others may not have files yet (e.g. model outputs) -#}
        {%- set needed = [] -%}
        {%- for unique_id in selected_resources -%}
            {%- set selected = graph.nodes.get(unique_id) -%}
            {%- if selected -%}
                {%- for dependency in selected.depends_on.nodes if dependency.startswith('source.') -%}
                    {%- do needed.append(dependency) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for node in graph.sources.values() if node.package_name == project_name and node.unique_id in needed -%}
            {%- set path = raw_source_path(node) -%}
            {%- if path -%}
                {%- do run_query("create database if not exists " ~ node.schema) -%}
                {%- do run_query("create or replace view " ~ node.schema ~ "." ~ node.identifier
                    ~ " as select * from parquet.`" ~ path ~ "`") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- The file path or glob of a source table: the first quoted argument of its external_location,
    a DuckDB string literal (the sources write the path with its quotes doubled: o''brien). -#}
{% macro raw_source_path(node) -%}
    {%- set location = (node.meta or {}).get('external_location') or (node.config.meta or {}).get('external_location') -%}
    {%- if not location -%}{{ return(none) }}{%- endif -%}
    {%- set quoted = location.replace("''", "<crm_pulse:quote>").split("'") -%}
    {%- if quoted | length < 3 -%}
        {{ exceptions.raise_compiler_error("source " ~ node.source_name ~ "." ~ node.name
            ~ ": meta.external_location must quote a path, e.g. read_parquet('<dir>/*.parquet'), got " ~ location) }}
    {%- endif -%}
    {{ return(quoted[1].replace("<crm_pulse:quote>", "'").replace('{name}', node.name).replace('{identifier}', node.identifier)) }}
{%- endmacro %}
