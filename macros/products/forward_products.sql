{#- on-run-end hook of the platform package (every project that installs it runs it):
    each table and latest-version view in the products file (generate_database_name.sql)
    keeps its address in the mesh's database as a view over it, so <domain>.<product>_v<N>
    reads the same rows through either file. A table an earlier build left at that
    address is dropped. dbt cannot write these views in a product's post-hook: one
    transaction writes one database, and a post-hook runs in its model's. -#}
{% macro forward_products() %}
    {%- set products = duckmesh_platform.products_database() if execute else '' -%}
    {%- if not products or target.database == products -%}{{ return('') }}{%- endif -%}
    {%- set missing = run_query(
        "select p.schema_name, p.name, m.table_type from ("
        ~ " select schema_name, table_name as name from duckdb_tables() where database_name = '" ~ products ~ "'"
        ~ " union all select schema_name, view_name from duckdb_views() where database_name = '" ~ products ~ "' and not internal"
        ~ ") as p left join information_schema.tables as m on m.table_catalog = '" ~ target.database ~ "'"
        ~ " and m.table_schema = p.schema_name and m.table_name = p.name"
        ~ " where m.table_type is distinct from 'VIEW' order by 1, 2") -%}
    {%- for schema, name, kind in missing.rows -%}
        {%- set address = api.Relation.create(database=target.database, schema=schema, identifier=name) -%}
        {%- do run_query('create schema if not exists ' ~ adapter.quote(target.database) ~ '.' ~ adapter.quote(schema)) -%}
        {%- if kind -%}{%- do run_query('drop table ' ~ address) -%}{%- endif -%}
        {%- do run_query('create view ' ~ address ~ ' as select * from '
            ~ api.Relation.create(database=products, schema=schema, identifier=name)) -%}
    {%- endfor -%}
{% endmacro %}
