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


{#- Snowflake: the text read with an explicit +00:00 offset, whatever the session's
    TIMEZONE parameter. -#}
{% macro snowflake__parse_utc_timestamp(column_expression, format) -%}
    to_timestamp_tz({{ column_expression }} || ' +00:00', '{{ duckmesh_platform.snowflake_datetime_format(format) }} TZH:TZM')
{%- endmacro %}


{% macro bigquery__parse_utc_timestamp(column_expression, format) -%}
    parse_timestamp('{{ format }}', {{ column_expression }}, 'UTC')
{%- endmacro %}
