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
        {{ exceptions.raise_compiler_error("java_datetime_pattern: no Spark pattern for a directive in '" ~ format ~ "'; add it to macros/portability/java_datetime_pattern.sql") }}
    {%- endif -%}
    {{ return(pattern) }}
{%- endmacro %}
