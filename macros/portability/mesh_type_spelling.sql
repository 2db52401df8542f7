{#- A type name spelled one way: lower case, single spaces, no spaces around ( , ),
    numeric read as decimal ('NUMERIC(18, 2)' -> 'decimal(18,2)'). -#}
{% macro mesh_type_spelling(data_type) %}
    {%- set t = modules.re.sub('\\s+', ' ', (data_type or '') | string | lower | trim) -%}
    {%- set t = modules.re.sub('\\s*([(),])\\s*', '\\1', t) -%}
    {{ return(modules.re.sub('^numeric', 'decimal', t)) }}
{% endmacro %}
