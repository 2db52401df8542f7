{#- The mesh's address convention: this domain's models land in the schema named
    after the domain (+schema), in every project that builds or installs it. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ return(duckmesh_platform.domain_schema_name(custom_schema_name, node)) }}
{%- endmacro %}
