{#- The mesh stores instants and reads UTC text as the session's local time: Spark
    must run with spark.sql.session.timeZone = UTC (set in profiles/profiles.yml). -#}
{% macro spark_session_checks() -%}
    {%- set zone = run_query('select current_timezone()')[0][0] -%}
    {%- if zone not in ['UTC', 'Etc/UTC', 'Z', '+00:00'] -%}
        {{ exceptions.raise_compiler_error("the Spark session time zone is " ~ zone ~ ", the mesh needs UTC: set spark.sql.session.timeZone: UTC in the target's server_side_parameters (profiles/profiles.yml), or --conf spark.sql.session.timeZone=UTC on the cluster") }}
    {%- endif -%}
{%- endmacro %}
