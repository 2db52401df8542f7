{#- The config of an incremental model merged on its key, on every engine:
    {{ config(duckmesh_platform.merge_incremental('order_id')) }}. Where the engine's tables have no
    MERGE (Spark Parquet) the model is rebuilt in full at every run instead
    (duckmesh_platform.incremental_strategy() and duckmesh_platform.incremental_full_refresh()), which governance P10
    reports. A new column fails the run (on_schema_change) rather than drift. -#}
{% macro merge_incremental(unique_key) -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': duckmesh_platform.incremental_strategy('merge'),
        'full_refresh': duckmesh_platform.incremental_full_refresh('merge'),
        'unique_key': unique_key,
        'on_schema_change': 'fail',
    }) }}
{%- endmacro %}
