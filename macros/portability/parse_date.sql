{#- Dates and timestamps typed as text in a source, parsed with a strftime format
    ('%d/%m/%Y'). Spark takes Java datetime patterns: the format is translated. -#}
{% macro parse_date(column_expression, format) -%}
    {{ return(adapter.dispatch('parse_date', 'duckmesh')(column_expression, format)) }}
{%- endmacro %}

{% macro default__parse_date(column_expression, format) -%}
    cast(strptime({{ column_expression }}, '{{ format }}') as date)
{%- endmacro %}

{% macro spark__parse_date(column_expression, format) -%}
    to_date({{ column_expression }}, '{{ java_datetime_pattern(format) }}')
{%- endmacro %}


{#- A text timestamp written in UTC, as an instant (timestamp with time zone). -#}
{% macro parse_utc_timestamp(column_expression, format) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp', 'duckmesh')(column_expression, format)) }}
{%- endmacro %}

{% macro default__parse_utc_timestamp(column_expression, format) -%}
    timezone('UTC', strptime({{ column_expression }}, '{{ format }}'))
{%- endmacro %}

{#- to_timestamp() reads the text in the session time zone, which the mesh's
    Spark profile sets to UTC. -#}
{% macro spark__parse_utc_timestamp(column_expression, format) -%}
    to_timestamp({{ column_expression }}, '{{ java_datetime_pattern(format) }}')
{%- endmacro %}


{#- The calendar date, in UTC, of an instant. -#}
{% macro utc_date(column_expression) -%}
    {{ return(adapter.dispatch('utc_date', 'duckmesh')(column_expression)) }}
{%- endmacro %}

{% macro default__utc_date(column_expression) -%}
    cast(timezone('UTC', {{ column_expression }}) as date)
{%- endmacro %}

{#- Spark shows an instant in the session time zone, UTC in the mesh's profile
    (mesh_spark_session_checks() stops a build on any other). -#}
{% macro spark__utc_date(column_expression) -%}
    to_date({{ column_expression }})
{%- endmacro %}


{#- strftime -> Java DateTimeFormatter pattern, for the directives sources use. -#}
{% macro java_datetime_pattern(format) -%}
    {%- set directives = {
        '%Y': 'yyyy', '%m': 'MM', '%d': 'dd', '%H': 'HH', '%M': 'mm', '%S': 'ss',
        '%f': 'SSSSSS', '%z': 'XX', '%y': 'yy', '%b': 'MMM', '%%': '%',
    } -%}
    {%- set translated = namespace(pattern=format) -%}
    {%- for directive, java in directives.items() -%}
        {%- set translated.pattern = translated.pattern | replace(directive, java) -%}
    {%- endfor -%}
    {%- set pattern = translated.pattern -%}
    {%- if '%' in pattern -%}
        {{ exceptions.raise_compiler_error("java_datetime_pattern: no Spark pattern for a directive in '" ~ format ~ "'; add it to macros/portability/parse_date.sql") }}
    {%- endif -%}
    {{ return(pattern) }}
{%- endmacro %}
