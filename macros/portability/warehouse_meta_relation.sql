{#- A table of the mesh's own on a warehouse (Snowflake, BigQuery), in the schema
    vars.duckmesh_warehouse_meta_schema (default duckmesh_meta) of the target's
    database: pii_salt (the salt, one row) and text_files (the project files governance
    reads, one row per line), which `duckmesh warehouse build` loads before dbt runs, since a
    warehouse cannot read the client's disk. -#}
{% macro warehouse_meta_relation(identifier) -%}
    {{ return(api.Relation.create(database=target.database,
        schema=var('duckmesh_warehouse_meta_schema', 'duckmesh_meta'), identifier=identifier)) }}
{%- endmacro %}
