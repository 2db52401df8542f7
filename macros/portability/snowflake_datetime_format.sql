{#- strftime -> Snowflake datetime format, for the directives sources use. -#}
{% macro snowflake_datetime_format(format) -%}
    {%- set directives = {
        '%Y': 'YYYY', '%m': 'MM', '%d': 'DD', '%H': 'HH24', '%M': 'MI', '%S': 'SS',
        '%f': 'FF6', '%z': 'TZHTZM', '%y': 'YY', '%b': 'MON', '%%': '%',
    } -%}
    {%- set translated = namespace(pattern=format) -%}
    {%- for directive, snowflake in directives.items() -%}
        {%- set translated.pattern = translated.pattern | replace(directive, snowflake) -%}
    {%- endfor -%}
    {%- if '%' in translated.pattern -%}
        {{ exceptions.raise_compiler_error("snowflake_datetime_format: no Snowflake format for a directive in '" ~ format ~ "'; add it to macros/portability/snowflake_datetime_format.sql") }}
    {%- endif -%}
    {{ return(translated.pattern) }}
{%- endmacro %}
