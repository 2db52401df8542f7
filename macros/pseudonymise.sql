{#- Shared PII handling. pseudonymise(): a stable, salted one-way hash, so a
    product can join on a person without carrying who they are. The salt is a var
    so a mesh can rotate it. -#}
{% macro pseudonymise(column_expression) -%}
    {{ return(adapter.dispatch('pseudonymise', 'duckmesh')(column_expression)) }}
{%- endmacro %}

{% macro default__pseudonymise(column_expression) -%}
    sha256('{{ var("pii_salt", "duckmesh") }}' || lower(trim(cast({{ column_expression }} as varchar))))
{%- endmacro %}
