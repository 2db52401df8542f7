{#- The logical name of a type: 'varchar' -> 'text', 'decimal(18, 2)' -> 'money'. -#}
{% macro mesh_logical_type(data_type) -%}
    {%- set spelled = (data_type | string | trim | lower) -%}
    {%- set spelled = modules.re.sub('\\s+', ' ', spelled) | replace(', ', ',') -%}
    {%- set aliases = {
        'varchar': 'text', 'string': 'text', 'text': 'text',
        'integer': 'integer', 'int': 'integer', 'int4': 'integer',
        'bigint': 'bigint', 'int8': 'bigint', 'long': 'bigint',
        'double': 'double', 'float8': 'double', 'double precision': 'double',
        'boolean': 'boolean', 'bool': 'boolean',
        'date': 'date',
        'decimal(18,2)': 'money', 'money': 'money',
        'timestamp with time zone': 'timestamp_tz', 'timestamptz': 'timestamp_tz',
        'timestamp_tz': 'timestamp_tz',
        'timestamp': 'timestamp', 'timestamp without time zone': 'timestamp',
    } -%}
    {{ return(aliases.get(spelled, spelled)) }}
{%- endmacro %}
