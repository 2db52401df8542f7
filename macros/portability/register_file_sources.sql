{#- Sources are files (CSV, JSON lines, Parquet) under DUCKMESH_DATA, described once in
    each source table's meta.validation (format, path, delimiter). DuckDB reads them
    in place through meta.external_location (dbt-duckdb). Spark has no such hook: at
    on-run-start every file source becomes an external table <source schema>.<table>
    over its files (dropping it never touches the files: they are not Spark's). -#}
{% macro register_file_sources() -%}
    {%- if execute -%}{% do adapter.dispatch('register_file_sources', 'duckmesh_platform')() %}{%- endif -%}
    {{ return('') }}
{%- endmacro %}


{% macro default__register_file_sources() -%}
{%- endmacro %}


{% macro spark__register_file_sources() -%}
    {%- do duckmesh_platform.spark_session_checks() -%}
    {%- set data_dir = env_var('DUCKMESH_DATA', 'data/current') -%}
    {%- set schemas = [] -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set spec = (source.config.meta or {}).get('validation') or (source.meta or {}).get('validation') -%}
        {%- if spec and spec.get('path') -%}
            {%- set relation = api.Relation.create(schema=source.schema, identifier=source.identifier) -%}
            {%- if source.schema not in schemas -%}
                {%- do run_query('create schema if not exists ' ~ source.schema) -%}
                {%- do schemas.append(source.schema) -%}
            {%- endif -%}
            {%- set reader = {'csv': 'csv', 'jsonl': 'json', 'json': 'json', 'parquet': 'parquet'}.get(spec.format) -%}
            {%- if reader is none -%}
                {{ exceptions.raise_compiler_error("source " ~ source.source_name ~ "." ~ source.name ~ ": meta.validation.format '" ~ spec.format ~ "' has no Spark reader; use csv, jsonl or parquet") }}
            {%- endif -%}
            {#- the table's location is the folder; the file name (or glob) filters it, so
                Spark never creates a folder named after a glob in the data -#}
            {%- set parts = (data_dir ~ '/' ~ spec.path).rsplit('/', 1) -%}
            {%- set options = {'path': parts[0], 'pathGlobFilter': parts[1]} -%}
            {%- if reader == 'csv' -%}
                {%- do options.update({'header': 'true', 'delimiter': spec.get('delimiter', ','), 'inferSchema': 'false'}) -%}
            {%- endif -%}
            {%- set rendered = [] -%}
            {%- for key, value in options.items() -%}
                {%- do rendered.append(key ~ " '" ~ (value | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'") -%}
            {%- endfor -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query('create table ' ~ relation ~ ' using ' ~ reader ~ ' options (' ~ (rendered | join(', ')) ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}


{#- Snowflake and BigQuery: `duckmesh warehouse build` loads every file source into
    its table (a stage and COPY INTO, a load job) before dbt runs; here the build stops
    with the fix when one is missing (plain `dbt build` on a fresh warehouse). -#}
{% macro snowflake__register_file_sources() -%}
    {%- do duckmesh_platform.warehouse_sources_loaded() -%}
{%- endmacro %}

{% macro bigquery__register_file_sources() -%}
    {%- do duckmesh_platform.warehouse_sources_loaded() -%}
{%- endmacro %}

{% macro warehouse_sources_loaded() -%}
    {%- set missing = [] -%}
    {%- for name in ['pii_salt', 'text_files'] -%}
        {%- set meta = duckmesh_platform.warehouse_meta_relation(name) -%}
        {%- if adapter.get_relation(database=meta.database, schema=meta.schema, identifier=meta.identifier) is none -%}
            {%- do missing.append(meta.schema ~ '.' ~ name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
        {%- set spec = (source.config.meta or {}).get('validation') or (source.meta or {}).get('validation') -%}
        {%- if spec and spec.get('path') and adapter.get_relation(database=source.database, schema=source.schema, identifier=source.identifier) is none -%}
            {%- do missing.append(source.schema ~ '.' ~ source.identifier) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error("DuckMesh: the " ~ target.name ~ " target (" ~ target.type ~ ", database " ~ target.database ~ ") has no " ~ (missing | join(', ')) ~ ": load the sources first with `duckmesh warehouse build --target " ~ target.name ~ "` (it loads them, the PII salt and the files governance reads, then runs dbt)") }}
    {%- endif -%}
{%- endmacro %}
