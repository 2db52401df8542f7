{#- dbt's contract check casts null to each declared type to learn the engine's
    type; declared types go through duckmesh_platform.mesh_type() first. -#}
{% macro duckdb__get_empty_schema_sql(columns) -%}
    {{ return(default__get_empty_schema_sql(duckmesh_platform.mesh_engine_columns(columns))) }}
{%- endmacro %}


{% macro spark__get_empty_schema_sql(columns) -%}
    {{ return(default__get_empty_schema_sql(duckmesh_platform.mesh_engine_columns(columns))) }}
{%- endmacro %}
