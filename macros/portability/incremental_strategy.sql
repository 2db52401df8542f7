{#- Incremental products name the strategy they want; an engine or table format that
    cannot run it gets the nearest strategy that is still correct.
    - merge needs a table format with MERGE: DuckDB, or Spark with Delta, Iceberg or
      Hudi (vars duckmesh_spark_file_format). On Spark's plain Parquet tables there
      is no MERGE, so a merge product is rebuilt in full at every run
      (duckmesh_platform.incremental_full_refresh() -> true) and dbt-spark's strategy is 'append'.
    - append works everywhere.
    duckmesh governance reports every product that falls back (P10). -#}
{% macro incremental_strategy(wanted) -%}
    {{ return(adapter.dispatch('incremental_strategy', 'duckmesh_platform')(wanted)) }}
{%- endmacro %}


{% macro default__incremental_strategy(wanted) -%}
    {{ return(wanted) }}
{%- endmacro %}


{% macro spark__incremental_strategy(wanted) -%}
    {%- if wanted == 'merge' and not duckmesh_platform.spark_table_format_merges() -%}
        {{ return('append') }}
    {%- endif -%}
    {{ return(wanted) }}
{%- endmacro %}


{#- dbt-bigquery has no 'append': a merge without a unique key inserts every new row,
    which is what append does. -#}
{% macro bigquery__incremental_strategy(wanted) -%}
    {{ return('merge' if wanted == 'append' else wanted) }}
{%- endmacro %}
