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


{% macro snowflake__parse_date(column_expression, format) -%}
    to_date({{ column_expression }}, '{{ duckmesh_platform.snowflake_datetime_format(format) }}')
{%- endmacro %}


{#- BigQuery's format elements are strftime's. -#}
{% macro bigquery__parse_date(column_expression, format) -%}
    parse_date('{{ format }}', {{ column_expression }})
{%- endmacro %}
