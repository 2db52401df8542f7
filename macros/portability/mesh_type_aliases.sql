{#- Every spelling of a harmonised type -> its logical type (mesh_type_table): the
    logical name, the canonical DuckDB spelling and the aliases. -#}
{% macro mesh_type_aliases() %}
    {%- set aliases = {} -%}
    {%- for logical, entry in duckmesh_platform.mesh_type_table().items() -%}
        {%- do aliases.update({logical: logical, entry.duckdb: logical}) -%}
        {%- for alias in entry.aliases or [] -%}
            {%- do aliases.update({alias: logical}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(aliases) }}
{% endmacro %}
