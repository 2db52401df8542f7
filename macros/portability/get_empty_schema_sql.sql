{#- dbt's contract check casts null to each declared type to learn the engine's
    type; declared types go through duckmesh_platform.mesh_type() first. -#}
{% macro duckdb__get_empty_schema_sql(columns) -%}
    {{ return(default__get_empty_schema_sql(duckmesh_platform.mesh_engine_columns(columns))) }}
{%- endmacro %}


{% macro spark__get_empty_schema_sql(columns) -%}
    {{ return(default__get_empty_schema_sql(duckmesh_platform.mesh_engine_columns(columns))) }}
{%- endmacro %}


{% macro snowflake__get_empty_schema_sql(columns) -%}
    {{ return(default__get_empty_schema_sql(duckmesh_platform.mesh_engine_columns(columns))) }}
{%- endmacro %}


{#- dbt-bigquery's own version (nested columns) over the rendered types. -#}
{% macro bigquery__get_empty_schema_sql(columns) -%}
    {{ return(dbt.bigquery__get_empty_schema_sql(duckmesh_platform.mesh_engine_columns(columns))) }}
{%- endmacro %}
