{#- Shared PII handling. duckmesh_platform.pseudonymise(): a stable, salted one-way hash, so a
    product can join on a person without carrying who they are. The salt is a secret of
    the installation (docs/privacy.md): the engine reads it from the file named by
    DUCKMESH_PII_SALT_FILE when the model runs, so the compiled SQL, the manifest and the
    logs carry only the file's path, never the salt. -#}
{% macro pseudonymise(column_expression) -%}
    {{ return(adapter.dispatch('pseudonymise', 'duckmesh_platform')(column_expression)) }}
{%- endmacro %}

{% macro default__pseudonymise(column_expression) -%}
    sha256({{ duckmesh_platform.pseudonymise_input(column_expression) }})
{%- endmacro %}

{#- Spark's sha2(.., 256) gives the same lowercase hex digest as DuckDB's sha256(). -#}
{% macro spark__pseudonymise(column_expression) -%}
    sha2({{ duckmesh_platform.pseudonymise_input(column_expression) }}, 256)
{%- endmacro %}

{% macro pseudonymise_input(column_expression) -%}
    {{ dbt.concat([duckmesh_platform.pii_salt(),
        "lower(trim(cast(" ~ column_expression ~ " as " ~ duckmesh_platform.mesh_type('text') ~ ")))"]) }}
{%- endmacro %}

{#- The salt as a scalar subquery over the salt file (read at run time, never rendered). -#}
{% macro pii_salt_file() -%}
    {{ return(env_var('DUCKMESH_PII_SALT_FILE', '.duckmesh/pii_salt') | replace("'", "''")) }}
{%- endmacro %}

{% macro pii_salt() -%}
    {{ return(adapter.dispatch('pii_salt', 'duckmesh_platform')()) }}
{%- endmacro %}

{#- columns('^content$') is read_text()'s content column: named through COLUMNS() so that
    column lineage (sqlglot, catalog/lineage.py) never takes it for a column of the model.
    Publish's `mask: hash` renders pseudonymise() itself (scripts/duckmesh/publish/
    access.py hash_template), so a masked value equals this pseudonym. -#}
{% macro default__pii_salt() -%}
    (select trim(columns('^content$'), chr(10) || chr(13) || ' ') from read_text('{{ duckmesh_platform.pii_salt_file() }}'))
{%- endmacro %}

{#- Spark reads the file as text: one row per line, the salt on the first. -#}
{% macro spark__pii_salt() -%}
    (select trim(value) from text.`{{ duckmesh_platform.pii_salt_file() | replace('`', '``') }}` limit 1)
{%- endmacro %}


{#- Snowflake's sha2(.., 256) and BigQuery's to_hex(sha256(..)) give the same
    lowercase hex digest as DuckDB's sha256(). -#}
{% macro snowflake__pseudonymise(column_expression) -%}
    sha2({{ duckmesh_platform.pseudonymise_input(column_expression) }}, 256)
{%- endmacro %}

{% macro bigquery__pseudonymise(column_expression) -%}
    to_hex(sha256({{ duckmesh_platform.pseudonymise_input(column_expression) }}))
{%- endmacro %}

{#- A warehouse cannot read the client's files: `duckmesh warehouse build` loads the
    salt into a one-row table of the mesh's metadata schema (warehouse_meta_relation),
    which only the build's role should read. -#}
{% macro snowflake__pii_salt() -%}
    (select salt from {{ duckmesh_platform.warehouse_meta_relation('pii_salt') }})
{%- endmacro %}

{% macro bigquery__pii_salt() -%}
    (select salt from {{ duckmesh_platform.warehouse_meta_relation('pii_salt') }})
{%- endmacro %}
