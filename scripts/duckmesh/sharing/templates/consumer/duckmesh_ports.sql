{% macro duckmesh_ports(store, schemas) %}
    {#- Written by `duckmesh consumer init --from s3://...` (docs/sharing.md): the mesh's
        products as views over their Parquet ports in the store's current snapshot, in the
        database the mesh's manifest records for each. The pointer current.json is written
        last by every upload, so all views read one snapshot. DuckDB reads s3:// through
        dbt-duckdb's `filesystems:` (s3fs). -#}
    {%- if execute %}
        {%- set ports = run_query(
            "select snapshot, database, relation, port from (select snapshot, "
            ~ "unnest(products, recursive := true) from read_json('" ~ store ~ "/current.json'))"
        ) %}
        {%- for snapshot, database, relation, port in ports.rows %}
            {%- set schema, name = relation.split('.') %}
            {%- if schema in schemas %}
        attach if not exists ':memory:' as "{{ database }}";
        create schema if not exists "{{ database }}"."{{ schema }}";
        create or replace view "{{ database }}"."{{ schema }}"."{{ name }}" as
            select * from read_parquet('{{ store }}/snapshots/{{ snapshot }}/{{ port }}');
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{% endmacro %}
