{#- The address convention (P04): a node lands in the schema named by its +schema
    (the domain's name), not in "<target schema>_<domain>", so a product's address is
    <domain>.<product> in every project that builds or installs the domain. Reached
    through dispatch (search_order [<project>, duckmesh_platform, dbt]) and through
    each domain's own generate_schema_name(), which calls duckmesh_platform.domain_schema_name(). -#}
{% macro default__generate_schema_name(custom_schema_name, node) -%}
    {{ return(duckmesh_platform.domain_schema_name(custom_schema_name, node)) }}
{%- endmacro %}


{% macro domain_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ return(target.schema) }}
    {%- else -%}
        {{ return(custom_schema_name | trim) }}
    {%- endif -%}
{%- endmacro %}
