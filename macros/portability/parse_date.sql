{#- Dates and timestamps typed as text in a source, parsed with a strftime format
    ('%d/%m/%Y'). Spark takes Java datetime patterns: the format is translated. -#}
{% macro parse_date(column_expression, format) -%}
    {{ return(adapter.dispatch('parse_date', 'duckmesh_platform')(column_expression, format)) }}
{%- endmacro %}


{% macro default__parse_date(column_expression, format) -%}
    cast(strptime({{ column_expression }}, '{{ format }}') as date)
{%- endmacro %}


{% macro spark__parse_date(column_expression, format) -%}
    to_date({{ column_expression }}, '{{ duckmesh_platform.java_datetime_pattern(format) }}')
{%- endmacro %}
