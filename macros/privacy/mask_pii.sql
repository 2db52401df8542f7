{#- Shared PII handling. duckmesh_platform.mask_pii(): keep the shape of a value, hide its content
    (first character and the domain of an e-mail, last two digits of a phone). -#}
{% macro mask_pii(column_expression, kind='text') -%}
    {{ return(adapter.dispatch('mask_pii', 'duckmesh_platform')(column_expression, kind)) }}
{%- endmacro %}

{% macro default__mask_pii(column_expression, kind='text') -%}
    {%- if kind == 'email' -%}
        left({{ column_expression }}, 1) || '***@' || split_part({{ column_expression }}, '@', 2)
    {%- elif kind == 'phone' -%}
        '***' || right({{ column_expression }}, 2)
    {%- else -%}
        left(cast({{ column_expression }} as {{ duckmesh_platform.mesh_type('text') }}), 1) || '***'
    {%- endif -%}
{%- endmacro %}
