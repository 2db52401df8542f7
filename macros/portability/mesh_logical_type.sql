{#- The logical name of a type: 'varchar' -> 'text', 'decimal(18, 2)' -> 'money'
    (mesh_type_table); a type the table does not know comes back as spelled. -#}
{% macro mesh_logical_type(data_type, aliases=none) -%}
    {%- set spelled = duckmesh_platform.mesh_type_spelling(data_type) -%}
    {%- set aliases = aliases if aliases is not none else duckmesh_platform.mesh_type_aliases() -%}
    {{ return(aliases.get(spelled, spelled)) }}
{%- endmacro %}
