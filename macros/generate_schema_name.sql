{#- Each domain's models land in a schema named after the domain (its +schema),
    not in "<target schema>_<domain>": the address of a product is <domain>.<product>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
