{#- Incremental products name the strategy they want; an engine or table format that
    cannot run it gets the nearest strategy that is still correct.
    - merge needs a table format with MERGE: DuckDB, or Spark with Delta, Iceberg or
      Hudi (vars duckmesh_spark_file_format). On Spark's plain Parquet tables there
      is no MERGE, so a merge product is rebuilt in full at every run
      (incremental_full_refresh() -> true) and dbt-spark's strategy is 'append'.
    - append works everywhere.
    duckmesh governance reports every product that falls back (P10). -#}
{% macro incremental_strategy(wanted) -%}
    {{ return(adapter.dispatch('incremental_strategy', 'duckmesh')(wanted)) }}
{%- endmacro %}

{% macro default__incremental_strategy(wanted) -%}
    {{ return(wanted) }}
{%- endmacro %}

{% macro spark__incremental_strategy(wanted) -%}
    {%- if wanted == 'merge' and not spark_table_format_merges() -%}
        {{ return('append') }}
    {%- endif -%}
    {{ return(wanted) }}
{%- endmacro %}


{#- The full_refresh config of an incremental product: none (dbt's --full-refresh
    decides) unless the engine cannot run the wanted strategy incrementally. -#}
{% macro incremental_full_refresh(wanted) -%}
    {{ return(adapter.dispatch('incremental_full_refresh', 'duckmesh')(wanted)) }}
{%- endmacro %}

{% macro default__incremental_full_refresh(wanted) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__incremental_full_refresh(wanted) -%}
    {{ return(true if wanted == 'merge' and not spark_table_format_merges() else none) }}
{%- endmacro %}


{#- The Spark table format of the mesh's tables and whether it has MERGE. -#}
{% macro spark_file_format() -%}
    {{ return(var('duckmesh_spark_file_format', 'parquet')) }}
{%- endmacro %}

{% macro spark_table_format_merges() -%}
    {{ return(spark_file_format() in ['delta', 'iceberg', 'hudi']) }}
{%- endmacro %}
