{#- Contract columns with their data_type rendered for this engine, for dbt's
    contract check (get_empty_schema_sql) and DDL. -#}
{% macro mesh_engine_columns(columns) -%}
    {%- set rendered = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set copy = {} -%}
        {%- do copy.update(column) -%}
        {%- if column.get('data_type') -%}
            {%- do copy.update({'data_type': duckmesh_platform.mesh_type(column['data_type'])}) -%}
        {%- endif -%}
        {%- do rendered.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(rendered) }}
{%- endmacro %}
