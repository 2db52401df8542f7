{#- A text timestamp written in UTC, as an instant (timestamp with time zone). -#}
{% macro parse_utc_timestamp(column_expression, format) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp', 'duckmesh_platform')(column_expression, format)) }}
{%- endmacro %}


{% macro default__parse_utc_timestamp(column_expression, format) -%}
    timezone('UTC', strptime({{ column_expression }}, '{{ format }}'))
{%- endmacro %}


{#- to_timestamp() reads the text in the session time zone, which the mesh's
    Spark profile sets to UTC. -#}
{% macro spark__parse_utc_timestamp(column_expression, format) -%}
    to_timestamp({{ column_expression }}, '{{ duckmesh_platform.java_datetime_pattern(format) }}')
{%- endmacro %}
