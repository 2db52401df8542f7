{#- Contracted tables (dbt-duckdb): a model-level primary_key constraint becomes an index
    that DuckDB builds and checks on every insert, several times the cost of writing the
    table itself (3M order lines: see BENCHMARKS.md). Every product already proves its key
    with the unique and not_null data tests, so the key stays in the contract (manifest,
    catalog, governance) and out of the DDL. Set var duckmesh_primary_key_index: true to
    have DuckDB enforce it again. Column types and not_null are always enforced. A
    contract may name its types logically (duckmesh_platform.mesh_type()); the DDL spells them for DuckDB. -#}
{% macro duckdb__get_table_columns_and_constraints() -%}
    {%- set kept = [] -%}
    {%- for constraint in model['constraints'] -%}
        {%- if constraint['type'] != 'primary_key' or var('duckmesh_primary_key_index', false) -%}
            {%- do kept.append(constraint) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- logical types (mesh_type: money, timestamp_tz, ...) are spelled for DuckDB -#}
    {%- set column_ddl = adapter.render_raw_columns_constraints(
        raw_columns=duckmesh_platform.mesh_engine_columns(model['columns'])) -%}
    {%- set model_ddl = adapter.render_raw_model_constraints(raw_constraints=kept) -%}
    (
    {% for c in column_ddl -%}
        {{ c }}{{ "," if not loop.last or model_ddl }}
    {% endfor %}
    {% for c in model_ddl -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}
