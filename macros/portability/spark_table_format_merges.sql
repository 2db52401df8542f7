{#- Whether the mesh's Spark table format (duckmesh_platform.spark_file_format()) has MERGE. -#}
{% macro spark_table_format_merges() -%}
    {{ return(duckmesh_platform.spark_file_format() in ['delta', 'iceberg', 'hudi']) }}
{%- endmacro %}
