{#- The Spark table format of the mesh's tables (vars.duckmesh_spark_file_format). -#}
{% macro spark_file_format() -%}
    {{ return(var('duckmesh_spark_file_format', 'parquet')) }}
{%- endmacro %}
