{#- The calendar date, in UTC, of an instant. -#}
{% macro utc_date(column_expression) -%}
    {{ return(adapter.dispatch('utc_date', 'duckmesh_platform')(column_expression)) }}
{%- endmacro %}


{% macro default__utc_date(column_expression) -%}
    cast(timezone('UTC', {{ column_expression }}) as date)
{%- endmacro %}


{#- Spark shows an instant in the session time zone, UTC in the mesh's profile
    (duckmesh_platform.spark_session_checks() stops a build on any other). -#}
{% macro spark__utc_date(column_expression) -%}
    to_date({{ column_expression }})
{%- endmacro %}


{% macro snowflake__utc_date(column_expression) -%}
    to_date(convert_timezone('UTC', {{ column_expression }}))
{%- endmacro %}


{% macro bigquery__utc_date(column_expression) -%}
    date({{ column_expression }}, 'UTC')
{%- endmacro %}
