{#- Whether the mesh's Spark table format (spark_file_format()) has MERGE. -#}
{% macro spark_table_format_merges() -%}
    {{ return(spark_file_format() in ['delta', 'iceberg', 'hudi']) }}
{%- endmacro %}
