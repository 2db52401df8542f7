{#- The full_refresh config of an incremental product: none (dbt's --full-refresh
    decides) unless the engine cannot run the wanted strategy incrementally. -#}
{% macro incremental_full_refresh(wanted) -%}
    {{ return(adapter.dispatch('incremental_full_refresh', 'duckmesh_platform')(wanted)) }}
{%- endmacro %}


{% macro default__incremental_full_refresh(wanted) -%}
    {{ return(none) }}
{%- endmacro %}


{% macro spark__incremental_full_refresh(wanted) -%}
    {{ return(true if wanted == 'merge' and not duckmesh_platform.spark_table_format_merges() else none) }}
{%- endmacro %}
