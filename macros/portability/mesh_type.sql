{#- Harmonised field types, written once and rendered per engine. A contract or a
    cast names a logical type (money, text, timestamp_tz, ...) or its canonical
    DuckDB spelling (decimal(18,2), varchar, timestamp with time zone, ...), the one
    the mesh's YAML contracts use; duckmesh_platform.mesh_type() returns the engine's own name for it.
    Anything it does not know (e.g. decimal(4,2), a struct) passes through as written. -#}
{% macro mesh_type(logical_type) -%}
    {{ return(adapter.dispatch('mesh_type', 'duckmesh_platform')(duckmesh_platform.mesh_logical_type(logical_type))) }}
{%- endmacro %}


{#- DuckDB: the canonical spelling of mesh_type_table. -#}
{% macro duckdb__mesh_type(logical_type) -%}
    {%- set entry = duckmesh_platform.mesh_type_table().get(logical_type) -%}
    {{ return(entry.duckdb if entry else logical_type) }}
{%- endmacro %}


{#- Spark SQL: string (varchar needs a length there), int, and one timestamp type,
    an instant shown in the session time zone: the profile sets it to UTC. -#}
{% macro spark__mesh_type(logical_type) -%}
    {%- set names = {
        'text': 'string', 'integer': 'int', 'bigint': 'bigint', 'double': 'double',
        'boolean': 'boolean', 'date': 'date', 'money': 'decimal(18,2)',
        'timestamp_tz': 'timestamp', 'timestamp': 'timestamp_ntz',
    } -%}
    {{ return(names.get(logical_type, logical_type)) }}
{%- endmacro %}


{#- The warehouses: their column of mesh_type_table; decimal(p,s) is number(p,s) on
    Snowflake and numeric(p,s) on BigQuery. -#}
{% macro snowflake__mesh_type(logical_type) -%}
    {{ return(duckmesh_platform.mesh_warehouse_type(logical_type, 'snowflake', 'number')) }}
{%- endmacro %}


{#- vars.duckmesh_bigquery_numeric_parameters: false renders numeric(p,s) as plain
    numeric, for the crucible emulator, which has no parameterised NUMERIC in a
    query's result (`duckmesh warehouse build` sets it there only). -#}
{% macro bigquery__mesh_type(logical_type) -%}
    {%- set rendered = duckmesh_platform.mesh_warehouse_type(logical_type, 'bigquery', 'numeric') -%}
    {%- if not var('duckmesh_bigquery_numeric_parameters', true) -%}
        {{ return(modules.re.sub('^numeric\\(\\d+,\\d+\\)$', 'numeric', rendered)) }}
    {%- endif -%}
    {{ return(rendered) }}
{%- endmacro %}


{% macro mesh_warehouse_type(logical_type, engine, decimal_name) -%}
    {%- set entry = duckmesh_platform.mesh_type_table().get(logical_type) -%}
    {%- if entry -%}{{ return(entry[engine]) }}{%- endif -%}
    {{ return(modules.re.sub('^decimal\\(', decimal_name ~ '(', logical_type)) }}
{%- endmacro %}


{#- Other engines: dbt's cross-database type macros (Snowflake, BigQuery, Trino, ...).
    timestamp_tz has no cross-database macro: an engine that needs another name
    than dbt.type_timestamp() for an instant gets its own <adapter>__mesh_type. -#}
{% macro default__mesh_type(logical_type) -%}
    {%- set names = {
        'text': dbt.type_string(), 'integer': dbt.type_int(), 'bigint': dbt.type_bigint(),
        'double': dbt.type_float(), 'boolean': dbt.type_boolean(), 'date': 'date',
        'money': 'decimal(18,2)',
        'timestamp_tz': dbt.type_timestamp(), 'timestamp': dbt.type_timestamp(),
    } -%}
    {{ return(names.get(logical_type, logical_type)) }}
{%- endmacro %}
