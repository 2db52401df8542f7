{#- The contracted table's DDL on Snowflake and BigQuery: dbt's, with each contract
    data_type rendered for the engine (duckmesh_platform.mesh_type()), since contracts
    spell types the DuckDB way. Constraints as the adapter renders them (both
    warehouses enforce not_null only; governance P10 asks a test of every other),
    but a model-level primary key stays in the contract and out of the DDL as on
    DuckDB (macros/products/contract_constraints.sql): neither warehouse enforces it,
    and the fakesnow emulator rejects it in CREATE TABLE ... AS. Set var
    duckmesh_primary_key_index: true to declare it on a real warehouse. -#}
{% macro snowflake__get_table_columns_and_constraints() -%}
    {{ return(duckmesh_platform.warehouse_table_columns()) }}
{%- endmacro %}


{% macro bigquery__get_table_columns_and_constraints() -%}
    {{ return(duckmesh_platform.warehouse_table_columns()) }}
{%- endmacro %}


{% macro warehouse_table_columns() -%}
    {%- set column_ddl = adapter.render_raw_columns_constraints(
        raw_columns=duckmesh_platform.mesh_engine_columns(model['columns'])) -%}
    {%- set kept = [] -%}
    {%- for constraint in model['constraints'] -%}
        {%- if constraint['type'] != 'primary_key' or var('duckmesh_primary_key_index', false) -%}
            {%- do kept.append(constraint) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set model_ddl = adapter.render_raw_model_constraints(raw_constraints=kept) -%}
    {%- set lines = column_ddl + model_ddl -%}
    {{ return('(' ~ (lines | join(', ')) ~ ')') }}
{%- endmacro %}
